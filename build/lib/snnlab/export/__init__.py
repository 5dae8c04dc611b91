"""Export trained networks to other formats (NIR: :func:`snnlab.export.nir.to_nir`)."""
