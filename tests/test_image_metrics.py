"""Image metrics and the shared diffusion pieces, on hand-made tensors whose answers are known."""

import pytest
import torch

from peftbench.image.diffusion import diffusion_loss, guided, initial_noise, sample
from peftbench.image.metrics import drift, drift_per_image, similarity, similarity_per_image


def test_similarity_of_identical_and_orthogonal_features():
    a = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    assert similarity(a, a) == pytest.approx(1.0)
    assert similarity(a, torch.tensor([[0.0, 3.0]])) == pytest.approx(0.0)
    # Mean over all pairs: one reference equal, one orthogonal -> 0.5 for every generated image.
    refs = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert similarity_per_image(a, refs).tolist() == pytest.approx([0.5, 0.5])


def test_drift_is_normalised_to_unit_interval():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert drift(x, x) == pytest.approx(0.0)
    assert drift(x, -x) == pytest.approx(1.0)
    assert drift_per_image(x, torch.tensor([[0.0, 1.0], [0.0, 5.0]])).tolist() == pytest.approx([0.5, 0.0])
    with pytest.raises(ValueError, match="paired"):
        drift(x, x[:1])


def test_initial_noise_depends_on_seed_only():
    together = initial_noise([3, 7], (1, 4, 4))
    alone = initial_noise([7], (1, 4, 4))
    assert torch.equal(together[1], alone[0])
    assert not torch.equal(together[0], together[1])


def _ddpm():
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")


def test_epsilon_loss_is_zero_for_an_exact_predictor_and_positive_otherwise():
    sched = _ddpm()
    x0 = torch.zeros(6, 1, 4, 4)  # with x0 = 0, noisy = sqrt(1 - abar_t) * noise: the noise is recoverable

    def exact(noisy, t):
        return noisy / (1 - sched.alphas_cumprod[t]).sqrt().view(-1, 1, 1, 1)

    gen = torch.Generator().manual_seed(0)
    assert diffusion_loss(exact, x0, "epsilon", 1000, sched, generator=gen) == pytest.approx(0.0, abs=1e-6)
    assert diffusion_loss(lambda n, t: torch.zeros_like(n), x0, "epsilon", 1000, sched, generator=gen) > 0.5
    with pytest.raises(ValueError, match="scheduler"):
        diffusion_loss(exact, x0, "epsilon", 1000, None)


def test_flow_loss_target_is_noise_minus_data():
    x0 = torch.zeros(5, 1, 4, 4)

    def exact(noisy, t):  # x_s = s * noise when x0 = 0, target = noise
        return noisy / (t / 1000).view(-1, 1, 1, 1)

    assert diffusion_loss(exact, x0, "flow", 1000, generator=torch.Generator().manual_seed(1)) == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ValueError, match="objective"):
        diffusion_loss(exact, x0, "v", 1000)


def test_weights_scale_items():
    x0 = torch.zeros(2, 1, 2, 2)
    # Predict zero: per-item loss = mean(noise^2); weight 0 on item 1 leaves item 0's loss alone.
    gen = lambda: torch.Generator().manual_seed(2)  # noqa: E731
    noise = torch.randn(x0.shape, generator=gen())
    only_first = diffusion_loss(lambda n, t: torch.zeros_like(n), x0, "flow", 1000, weights=torch.tensor([1.0, 0.0]),
                                generator=gen())
    assert only_first == pytest.approx(float(noise[0].pow(2).mean()), rel=1e-5)


def test_guidance_scale_one_is_the_conditional_prediction():
    cond, uncond = torch.ones(2), torch.zeros(2)
    assert torch.equal(guided(cond, uncond, 1.0), cond)
    assert guided(cond, uncond, 3.0).tolist() == [3.0, 3.0]


def test_ddim_sampling_with_an_oracle_recovers_the_image():
    from diffusers import DDIMScheduler

    sched = _ddpm()
    target = torch.full((2, 1, 4, 4), 0.5)

    def oracle(x, t):  # the epsilon that makes x a noised `target`
        abar = sched.alphas_cumprod[t].view(-1, 1, 1, 1)
        return (x - abar.sqrt() * target) / (1 - abar).sqrt()

    out = sample(oracle, DDIMScheduler.from_config(sched.config), initial_noise([0, 1], (1, 4, 4)), steps=5)
    assert torch.allclose(out, target, atol=1e-3)
