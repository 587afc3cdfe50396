"""Talk 003's late-fusion pipeline as one module: audio SVM + face SVM -> random forest.

    audio features [B, 68] --RbfSvm--> audio scores [B, C] --+
                                                             +-- concat [B, 2C] --Forest--> logits [B, C]
    face action units [B, 35] --RbfSvm--> face scores [B, C] -+

* audio: the clip's hand-crafted mid-term statistics (:mod:`emodemo.inputs.handcrafted`), an RBF SVM;
* face: the 35 OpenFace action units of the same take averaged over the clip (RAVDESS's face
  channel here; the talk ran a FER-trained CNN on video frames instead, see ``fer_cnn``), an RBF SVM;
* fusion: a random forest on the two machines' decision values, fitted on actors that neither
  machine saw, so that it learns how the machines behave on new people (the talk's protocol).

Without ``au`` (a voice clip, no face) the module answers with a machine of the voice alone: the
talk's "handling missing modalities". That is ``voice`` when the checkpoint has one (an RBF SVM on
the same features, trained on every training actor: with no face there is no forest to keep actors
back for), else the audio machine. The output dict always holds each branch's scores.
"""

from __future__ import annotations

import torch
from torch import nn

from .forest import Forest
from .kernel_svm import RbfSvm


class HandcraftedEnsemble(nn.Module):
    def __init__(self, n_classes: int, audio: dict, face: dict, forest: dict, voice: dict | None = None):
        """``audio``/``face``/``voice``: :class:`RbfSvm` keyword arguments; ``forest``: :class:`Forest`'s
        (without n_classes)."""
        super().__init__()
        self.audio = RbfSvm(**audio)
        self.face = RbfSvm(**face)
        self.forest = Forest(n_classes=n_classes, **forest)
        self.voice = RbfSvm(**voice) if voice else None

    def forward(self, audio: torch.Tensor, au: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out = {"audio_logits": self.audio(audio).float()}  # [B, C]
        if au is None:
            out["logits"] = self.voice(audio).float() if self.voice is not None else out["audio_logits"]
            return out
        out["face_logits"] = self.face(au).float()  # [B, C]
        out["logits"] = self.forest(torch.cat([out["audio_logits"], out["face_logits"]], dim=1)).float()
        return out
