"""Generated two-stream class scores with a known fusion structure."""
import numpy as np


def two_stream_scores(n_samples, n_classes=4, kind="combination", peak=3.0, noise=1.0,
                      random_state=None):
    """Raw (pre-softmax) RGB and flow class scores of a simulated two-stream net.

    Parameters
    ----------
    n_samples : int
    n_classes : int, default=4
        For ``kind="combination"`` a square of an integer >= 2 (4, 9, ...).
    kind : {"combination", "agree"}, default="combination"
        ``"combination"``: class ``k = a * m + b`` (``m = sqrt(n_classes)``)
        puts the RGB peak on column ``a`` and the flow peak on column
        ``m + b``, so each stream alone is ambiguous between ``m`` classes
        and only the *pair* of argmaxes identifies the class.
        ``"agree"``: both streams peak on the true class column (each with
        its own noise), the case late fusion is made for.
    peak : float, default=3.0
        Height of a stream's peak above the noise.
    noise : float, default=1.0
        Standard deviation of the Gaussian noise on every score.
    random_state : int or None

    Returns
    -------
    X : ndarray of shape (n_samples, 2, n_classes), float32
        ``X[:, 0]`` RGB scores, ``X[:, 1]`` flow scores.
    y : ndarray of shape (n_samples,), int

    Examples
    --------
    >>> X, y = two_stream_scores(8, n_classes=4, random_state=0)
    >>> X.shape, y.shape
    ((8, 2, 4), (8,))
    """
    rng = np.random.default_rng(random_state)
    y = rng.integers(0, n_classes, size=n_samples)
    scores = rng.normal(0.0, noise, size=(n_samples, 2, n_classes))
    rows = np.arange(n_samples)
    if kind == "combination":
        m = int(round(np.sqrt(n_classes)))
        if m * m != n_classes or m < 2:
            raise ValueError(f"kind='combination' needs n_classes = m*m with m >= 2, "
                             f"got {n_classes}")
        scores[rows, 0, y // m] += peak
        scores[rows, 1, m + y % m] += peak
    elif kind == "agree":
        scores[rows, 0, y] += peak
        scores[rows, 1, y] += peak
    else:
        raise ValueError(f"kind must be 'combination' or 'agree', got {kind!r}")
    return scores.astype(np.float32), y
