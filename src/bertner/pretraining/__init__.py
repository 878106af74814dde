"""Continued masked-LM pretraining of an encoder on unlabelled text (`bertner pretrain`; issue 22).

texts.py reads the inputs, examples.py cuts them into windows and masks them (HF's collator), model.py loads the
MLM model and saves the encoder, record.py writes what was done, run.py drives the HF Trainer.
"""
