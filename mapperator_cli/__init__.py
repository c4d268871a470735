"""Command-line front end of mapper (Typer). Importing this package must stay cheap: no torch."""

import os

# Intel MKL picks its matrix kernels by the CPU it finds (AVX2, AVX-512, AMX), and the kernels round
# differently: on a near tie (top-2 logits ~1e-5 apart) two machines then decode different tokens. The
# AVX2 branch runs on every x86-64 CPU of the last decade and is the one the published checkpoints'
# reference runs match (../shared/fixtures/e2e: AVX-512 kernels flip 2 of 4 whole-song runs), so mapper asks
# for it unless the user has chosen. It must be set before torch first calls MKL.
os.environ.setdefault("MKL_CBWR", "AVX2")
