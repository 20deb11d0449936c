"""The R2ETL transfer's default weights, apart from ``transfer`` so that the command line's help reads them
without importing torch."""

# Chosen on a selection pool of N-MNIST's training split, set aside from every test set
# (benchmarks/r2etl_sweep.py --select-only; K = 4, grid {0, 1, 2}², top-1 %): (0, 1) 82.7 best,
# (0, 0) 80.7, (1, 1) 80.7, (2, 2) 78.0, (1, 0) 74.7. Feature alignment did not help there.
DEFAULT_LAMBDA_FEATURE = 0.0
DEFAULT_LAMBDA_TCKA = 1.0
# The image part's weights tried on the validation samples for each run: 0 is the adapter alone,
# 1 the full R2ETL loss (which cost 1-6 points on N-MNIST from 4 shots a class on).
IMAGE_WEIGHTS = (0.0, 0.25, 0.5, 1.0)
# Validation samples more than the adapter alone a weight must get right to be kept (with a lower
# cross-entropy as well): chosen among four rules on that selection pool (README, R2ETL).
IMAGE_MARGIN = 2
