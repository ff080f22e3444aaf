"""Temperature scaling of the teacher's probabilities: fitted on dev by calibrate_teacher.py,
applied by the labeller."""
import numpy


def log_probs(probs: numpy.ndarray) -> numpy.ndarray:
    return numpy.log(numpy.clip(probs, 1e-13, 1.0))  # a probability of 0 is a log of -29.9, not -inf


def apply_temperature(probs: numpy.ndarray, temperature: float) -> numpy.ndarray:
    """Rows of class probabilities with their log-probabilities divided by T, renormalised
    (T 1: unchanged). The labeller applies the fitted T with this too."""
    if temperature == 1.0:
        return probs
    logp = log_probs(probs) / temperature
    p = numpy.exp(logp - logp.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def fit_temperature(probs: numpy.ndarray, gold: numpy.ndarray) -> float:
    """The T in [0.05, 100] with the lowest log-loss of the gold classes (`gold`: each doc's
    column in `probs`). The log-loss is convex in 1/T, so a bounded scalar search (over
    log T, scipy's Brent) finds the one minimum."""
    from scipy.optimize import minimize_scalar
    from scipy.special import logsumexp

    z = log_probs(probs)
    z_gold = z[numpy.arange(len(z)), gold]

    def nll(log_t: float) -> float:
        t = numpy.exp(log_t)
        return float(numpy.mean(logsumexp(z / t, axis=1) - z_gold / t))

    found = minimize_scalar(nll, bounds=(numpy.log(0.05), numpy.log(100.0)), method="bounded",
                            options={"xatol": 1e-6})
    return float(numpy.exp(found.x))
