"""The general speaker encoder: the libri-dev protocol that measures it (`protocol`), its
training (`train`) and the shipped, pretrained model folder (voxprint/pretrained/encoder)."""
