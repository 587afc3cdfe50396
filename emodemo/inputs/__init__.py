"""From files to arrays: audio, long recordings, video frames and faces, text encoders, hand-crafted
features, loudness normalisation, augmentation, speech segmentation."""
