"""Default training parameters of `imagegen`: the reference suite's image task (FLUX.2-klein-base-4B,
cat-plushy set, DINOv2-base), in peftbench's config shape. Experiments override them with a deep merge.

Differences from the reference file, on purpose: `lr_scheduler` "constant" is the reference's null (no
schedule); the prompts are templates with {identifier} {class_word} ("sks cat") filled in; the reference's
`repeats`, `weighting_scheme` and logit/mode parameters are dropped (uniform flow-matching time, as its
"none" weighting); `dino_image_size` is whatever the DINOv2 image processor of `dino_model_id` uses (224).
"""

DEFAULT_PARAMS = {
    "model_id": "black-forest-labs/FLUX.2-klein-base-4B",
    "dtype": "bfloat16",
    "use_gc": True,
    "compile": False,
    "use_amp": False,
    "autocast_adapter_dtype": True,
    "batch_size": 2,
    "batch_size_eval": 1,
    "max_steps": 750,
    "eval_steps": 100,
    "seed": 0,
    "optimizer_type": "AdamW",
    "optimizer_kwargs": {
        "lr": 0.0001,
        "weight_decay": 0.0001
    },
    "lr_scheduler": "constant",
    "warmup_ratio": 0.0,
    "grad_norm_clip": 1.0,
    "image": {
        "resolution": 512,
        "identifier": "sks",
        "class_word": "cat",
        "instance_prompt": "a photo of {identifier} {class_word}",
        "num_instance_images": 14,
        "prior_loss_weight": 0.0,
        "num_inference_steps": 20,
        "guidance_scale": 3.5,
        "test_seeds": 1,
        "valid_seeds": 1,
        "drift_seeds": 1,
        "grid_seeds": 2
    },
    "imagegen": {
        "family": "auto",
        "dataset_id": "peft-internal-testing/cat-image-dataset",
        "dataset_split": "train",
        "image_column": "image",
        "instance_prompts": [
            "{identifier} {class_word} sitting on a chair in front of a box of chocolates",
            "{identifier} {class_word} playing on the Steam Deck",
            "{identifier} {class_word} wearing a necklace while sitting in a box on a sofa",
            "a box with four donuts in front of {identifier} {class_word}",
            "{identifier} {class_word} wearing a pink veil with flowers on it and a dagger made out of yellow cardboard",
            "{identifier} {class_word} between two pillows, with one pillow showing a polar bear and the other a fox",
            "{identifier} {class_word} with an espresso reading the newspaper",
            "a close up of a hand petting {identifier} {class_word} on the head",
            "{identifier} {class_word} opens a white door",
            "{identifier} {class_word} with a VIP \"all access\" pass",
            "{identifier} {class_word} in front of a monitor showing the video game \"RimWorld\"",
            "{identifier} {class_word} reads a newspaper about cannabis",
            "{identifier} {class_word} reading the newspaper with the title \"DIE BOX\"",
            "{identifier} {class_word} being fed sushi",
            "{identifier} {class_word} in front of a box of tomatoes",
            "a gingerbread house in front of {identifier} {class_word}",
            "{identifier} {class_word} is wearing a Wednesday Addams costume",
            "{identifier} {class_word} looks skeptical as he reads a magazine depicting a black cat",
            "{identifier} {class_word} wearing a striped scarf",
            "sleepy {identifier} {class_word} lying in bed covered by a blue blanket"
        ],
        "valid_size": 2,
        "test_size": 4,
        "dino_model_id": "facebook/dinov2-base",
        "drift_prompts": [
            "a photo of cat",
            "a color drawing of cat",
            "cat sitting in a bathtub",
            "cat looks into a mirror",
            "a photo of cat next to a tree",
            "the Mona Lisa but she looks angry",
            "a dog holding a sign that says hello world",
            "a photo of the Eiffel tower at night",
            "an astronaut riding a horse",
            "3d design concept of a chair that looks like an avocado"
        ],
        "grid_prompts": [
            "a photo of {identifier} {class_word}",
            "a color drawing of {identifier} {class_word}",
            "{identifier} {class_word} at the beach",
            "a photo of {identifier} dog",
            "a photo of an orange cat"
        ],
        "max_sequence_length": 512,
        "text_encoder_out_layers": [
            10,
            20,
            30
        ]
    }
}
