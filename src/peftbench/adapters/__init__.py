"""An experiment's adapter, from config to saved folder: the adapter_config.json as a peft config
(`peft_config`), the type and range checks of its fields (`params`), the PEFT model, optimizer and
schedule built from it (`build`), and the trained adapter kept beside its record (`saved`) with its
model card (`model_card`)."""
