"""Model registry: checkpoints name their model, and only names listed here can be built."""

from __future__ import annotations

from torch import nn

from .coattention import CoAttentionMean, CoAttentionNet
from .fer_cnn import FerCNN
from .handcrafted_ensemble import HandcraftedEnsemble
from .mesm import Mesm, MesmMean
from .nmt_attention import NMTAttention, NMTAttentionMean
from .speech_probe import SpeechProbe, SpeechProbeEnsemble
from .ssl_mha import SslMhaEnsemble, SslMhaNet
from .words_minilm import WordsMiniLM

REGISTRY: dict[str, type[nn.Module]] = {
    "speech_probe": SpeechProbe,
    "speech_probe_ensemble": SpeechProbeEnsemble,
    "nmt_attention": NMTAttention,
    "nmt_attention_mean": NMTAttentionMean,
    "coattention": CoAttentionNet,
    "coattention_mean": CoAttentionMean,
    "ssl_mha": SslMhaNet,
    "ssl_mha_ensemble": SslMhaEnsemble,
    "fer_cnn": FerCNN,
    "handcrafted_ensemble": HandcraftedEnsemble,
    "mesm": Mesm,
    "mesm_mean": MesmMean,
    "words_minilm": WordsMiniLM,
}


def build(name: str, **kwargs) -> nn.Module:
    try:
        cls = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {sorted(REGISTRY)}") from None
    return cls(**kwargs)
