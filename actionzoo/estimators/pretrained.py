"""The estimator of a registry entry: ``from_pretrained(name)`` for any video entry."""
from actionzoo.estimators._pretrained import weights_entry
from actionzoo.estimators.correlation_net import CorrelationNet
from actionzoo.estimators.stc_net import STCNet
from actionzoo.estimators.video_resnet import VideoResNetClassifier

#: Estimator class of each actionzoo.models builder that registry video entries use.
ESTIMATOR_OF_BUILDER = {"correlation_net": CorrelationNet, "resnet3d": STCNet,
                        "video_resnet": VideoResNetClassifier}


def from_pretrained(name, **overrides):
    """The fitted estimator of the registry entry ``name`` (its class chosen by the builder).

    Parameters
    ----------
    name : str or path-like
        A registry name or a weights file named after one (see
        :meth:`CorrelationNet.from_pretrained <actionzoo.CorrelationNet.from_pretrained>`).
    **overrides
        Hyper-parameters of the estimator (test views, ``num_workers``...).

    Returns
    -------
    CorrelationNet, STCNet or VideoResNetClassifier

    Raises
    ------
    ValueError
        Unknown name, or an entry that is not a video classifier (an
        ImageNet backbone).

    Examples
    --------
    >>> from actionzoo.estimators.pretrained import from_pretrained
    >>> type(from_pretrained("corrnet26.demo")).__name__
    'CorrelationNet'
    """
    info = weights_entry(name)
    if info is None:  # the class method's message lists the known names
        return CorrelationNet.from_pretrained(name, **overrides)
    builder = info.architecture["builder"]
    if builder not in ESTIMATOR_OF_BUILDER:
        raise ValueError(f"{info.name} is a {builder!r} model, not a video classifier; the "
                         f"video entries use {sorted(ESTIMATOR_OF_BUILDER)}")
    return ESTIMATOR_OF_BUILDER[builder].from_pretrained(name, **overrides)
