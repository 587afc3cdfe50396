"""Decoding every common container, clear errors for bad files, and Whisper-exact features."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import scipy.fft
import scipy.signal
import soundfile
import torch

from emodemo.inputs import audio
from emodemo.inputs.audio import AudioError

TONE_HZ = 440.0
TONE_SECONDS = 1.5
# ffmpeg arguments that turn the test tone into each container; the video ones get a grey picture.
PICTURE = ["-f", "lavfi", "-i", "color=c=gray:s=64x48:r=10", "-shortest", "-c:v", "mpeg4"]
ENCODINGS = {
    ".flac": [],
    ".ogg": ["-c:a", "libvorbis"],
    ".mp3": ["-c:a", "libmp3lame"],
    ".opus": ["-c:a", "libopus"],
    ".m4a": ["-c:a", "aac"],
    ".webm": ["-c:a", "libopus"],
    ".mp4": [*PICTURE, "-c:a", "aac"],
    ".mov": [*PICTURE, "-c:a", "aac"],
    ".mkv": [*PICTURE, "-c:a", "libvorbis"],
}

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, timeout=60)


def tone(seconds: float = TONE_SECONDS, sr: int = 44_100, hz: float = TONE_HZ, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(round(seconds * sr)) / sr)).astype(np.float32)


def dominant_hz(wave: np.ndarray, sr: int = audio.SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.fft.rfftfreq(len(wave), 1 / sr)[np.argmax(spectrum)])


@pytest.fixture(scope="module")
def tone_wav(tmp_path_factory) -> Path:
    """A 1.5 s, 440 Hz, 44.1 kHz stereo WAV (the same tone on both channels)."""
    path = tmp_path_factory.mktemp("tone") / "tone.wav"
    soundfile.write(path, np.stack([tone(), tone()], axis=1), 44_100)
    return path


@pytest.fixture(scope="module")
def encoded(tone_wav: Path) -> dict[str, Path]:
    """The tone in every container of ENCODINGS, written by ffmpeg."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    files = {}
    for suffix, arguments in ENCODINGS.items():
        files[suffix] = tone_wav.with_suffix(suffix)
        ffmpeg("-i", str(tone_wav), *arguments, str(files[suffix]))
    return files


# ---------------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("suffix", [".wav", *ENCODINGS])
def test_every_common_container_decodes_to_16k_mono(suffix, tone_wav, request):
    path = tone_wav if suffix == ".wav" else request.getfixturevalue("encoded")[suffix]
    wave = audio.load_audio(path)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert np.abs(wave).max() <= 1.0
    # Lossy codecs add a few ms of priming / padding; pitch and length must survive.
    assert audio.duration(wave) == pytest.approx(TONE_SECONDS, abs=0.08)
    assert dominant_hz(wave) == pytest.approx(TONE_HZ, abs=3)


def test_channels_are_averaged(tmp_path):
    path = tmp_path / "opposite.flac"
    soundfile.write(path, np.stack([tone(), -tone()], axis=1), 44_100)
    assert audio.is_silent(audio.load_audio(path))


def test_resampling_keeps_length_and_pitch(tone_wav):
    wave = audio.load_audio(tone_wav, sr=8000)
    assert len(wave) == round(TONE_SECONDS * 8000)
    assert dominant_hz(wave, sr=8000) == pytest.approx(TONE_HZ, abs=3)


@pytest.mark.parametrize("suffix", [".flac", ".mp3", ".webm", ".mp4"])  # soundfile and ffmpeg roads
def test_max_seconds_truncates_and_probe_tells_the_full_length(suffix, encoded):
    path = encoded[suffix]
    # Never longer than asked; lossy codecs may start a few ms late (e.g. Opus pre-skip).
    assert 8000 - 320 <= len(audio.load_audio(path, max_seconds=0.5)) <= 8000
    assert audio.probe_duration(path) == pytest.approx(TONE_SECONDS, abs=0.08)


def test_real_clip_decodes(ravdess_clip):
    wave = audio.load_audio(ravdess_clip)
    assert 2.0 < audio.duration(wave) < 6.0 and not audio.is_silent(wave)


# ---------------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        audio.load_audio(tmp_path / "nope.wav")


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.mp3").write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        audio.load_audio(tmp_path / "empty.mp3")


def test_audio_file_without_samples(tmp_path):
    path = tmp_path / "header_only.wav"
    soundfile.write(path, np.zeros((0, 1), dtype=np.float32), 16_000)
    with pytest.raises(AudioError, match="0 audio samples"):
        audio.load_audio(path)


@needs_ffmpeg
@pytest.mark.parametrize("name", ["notes.wav", "notes.mp3"])
def test_not_media(tmp_path, name):
    (tmp_path / name).write_text("these are words, not sound\n" * 20)
    with pytest.raises(AudioError, match="could not decode"):
        audio.load_audio(tmp_path / name)


@needs_ffmpeg
def test_video_without_sound(tmp_path):
    path = tmp_path / "silent_film.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-t", "1", "-c:v", "mpeg4", str(path))
    with pytest.raises(AudioError, match="has no audio track"):
        audio.load_audio(path)
    with pytest.raises(AudioError, match="has no audio track"):
        audio.probe_duration(path)


def test_missing_ffmpeg_is_named(encoded, monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(AudioError, match="install ffmpeg"):
        audio.load_audio(encoded[".mp3"])


def test_a_stuck_decoder_is_abandoned(encoded, monkeypatch):
    monkeypatch.setattr(audio, "SUBPROCESS_TIMEOUT_S", 1e-4)
    with pytest.raises(AudioError, match="gave up"):
        audio.load_audio(encoded[".m4a"])


@needs_ffmpeg
def test_messages_name_the_file_never_its_folder(tmp_path):
    (tmp_path / "notes.mp3").write_text("these are words, not sound\n" * 20)
    with pytest.raises(AudioError, match="notes.mp3") as caught:
        audio.load_audio(tmp_path / "notes.mp3")
    for missing in ("nope.wav", "empty.wav"):
        (tmp_path / "empty.wav").write_bytes(b"")
        with pytest.raises(AudioError, match=missing) as other:
            audio.load_audio(tmp_path / missing)
        assert str(tmp_path) not in str(other.value)
    assert str(tmp_path) not in str(caught.value)


@needs_ffmpeg
def test_a_playlist_disguised_as_media_cannot_make_ffmpeg_read_other_files(tmp_path, tone_wav):
    """An HLS playlist named .mp4 names a file elsewhere; ffmpeg only opens our containers, as local files."""
    playlist = tmp_path / "clip.mp4"
    playlist.write_text(f"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\nfile://{tone_wav}\n#EXT-X-ENDLIST\n")
    with pytest.raises(AudioError, match="not in a format the app reads"):
        audio.load_audio(playlist)
    assert audio.ffmpeg_input(tmp_path / "-i.wav")[-2:] == ["-i", f"file:{tmp_path}/-i.wav"]


def test_errors_are_value_errors():
    assert issubclass(AudioError, ValueError)


# ---------------------------------------------------------------------------------- helpers


def test_is_silent_threshold():
    assert audio.is_silent(np.zeros(16_000))
    assert audio.is_silent(np.array([]))
    assert audio.is_silent(tone(amplitude=10 ** (-70 / 20)))  # about -73 dBFS RMS
    assert not audio.is_silent(tone(amplitude=0.05))  # about -29 dBFS RMS
    assert audio.is_silent(tone(amplitude=0.05), threshold_db=-20.0)


def test_a_short_quiet_word_after_a_long_pause_is_not_silence():
    word = tone(amplitude=0.02)[:4000]  # 0.25 s at about -37 dBFS
    wave = np.concatenate([np.zeros(16_000 * 25, np.float32), word])
    assert not audio.is_silent(wave)


def test_the_quietest_real_ravdess_take_is_not_silence(ravdess_root):
    """Actor 09's neutral take is the kind of soft speech a clip-wide level would call silence."""
    assert not audio.is_silent(audio.load_audio(ravdess_root / "Actor_09" / "03-01-04-01-01-01-09.flac"))


def test_voiced_bounds_cut_leading_and_trailing_silence_only():
    rng = np.random.default_rng(0)
    hiss = lambda n: rng.normal(0, 1e-4, n).astype(np.float32)  # about -80 dBFS room noise
    speech = np.concatenate([tone(amplitude=0.1)[:8000], hiss(4000), tone(amplitude=0.01)[:8000]])  # soft end
    wave = np.concatenate([hiss(12_000), speech, hiss(20_000)])
    start, end = audio.voiced_bounds(wave, margin_s=0.0)
    assert abs(start - 12_000) <= 400 and abs(end - (12_000 + speech.size)) <= 400  # within one 25 ms frame
    assert audio.voiced_bounds(wave, margin_s=0.1) == (start - 1600, end + 1600)
    assert audio.voiced_bounds(np.zeros(8000)) == (0, 8000) and audio.voiced_bounds(np.array([])) == (0, 0)
    assert audio.voiced_bounds(tone(amplitude=0.1)) == (0, tone(amplitude=0.1).size)  # never quiet: kept whole


def test_voiced_bounds_keep_the_words_of_a_real_clip(ravdess_root):
    """Whisper heard "Kids are talking by the door" between ~0.8 and ~2.6 s of this take."""
    wave = audio.load_audio(ravdess_root / "Actor_11" / "03-01-02-01-01-01-11.flac")
    start, end = audio.voiced_bounds(wave)
    assert 0.3 < start / 16_000 < 1.0 and 2.3 < end / 16_000 < wave.size / 16_000


def test_nan_samples_are_reported_as_a_damaged_file(tmp_path):
    path = tmp_path / "nan.wav"
    soundfile.write(path, np.full(16_000, np.nan, np.float32), 16_000, subtype="FLOAT")
    with pytest.raises(audio.AudioError, match="NaN"):
        audio.load_audio(path)


def test_duration():
    assert audio.duration(np.zeros(24_000)) == 1.5
    assert audio.duration(torch.zeros(2, 8000), sr=8000) == 1.0


def test_dct_matrix_is_scipys_orthonormal_dct():
    x = np.random.default_rng(0).normal(size=40)
    expected = scipy.fft.dct(x, type=2, norm="ortho")[:13]
    np.testing.assert_allclose(audio.dct_matrix(13, 40) @ x, expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------- features


@pytest.mark.parametrize("n_mels", [80, 128])
def test_mel_filterbank_equals_whispers(n_mels):
    whisper = pytest.importorskip("whisper")
    expected = whisper.audio.mel_filters("cpu", n_mels).numpy()
    np.testing.assert_allclose(audio.mel_filterbank(16_000, 400, n_mels), expected, rtol=0, atol=1e-7)


def test_log_mel_matches_whisper_on_a_real_clip(ravdess_clip):
    whisper = pytest.importorskip("whisper")
    wave = audio.load_audio(ravdess_clip)
    expected = whisper.log_mel_spectrogram(torch.from_numpy(wave))
    ours = audio.log_mel(wave)
    assert ours.shape == expected.shape == (80, len(wave) // 160)
    assert (ours - expected).abs().max() < 1e-4
    padded = audio.log_mel(wave, pad_to_30s=True)
    assert padded.shape == (80, 3000)
    assert (padded - whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(wave)))).abs().max() < 1e-4


def test_log_mel_batch_equals_one_by_one():
    rng = np.random.default_rng(1)
    waves = np.stack([0.01 * rng.normal(size=8000), 0.5 * rng.normal(size=8000)]).astype(np.float32)
    batch = audio.log_mel(waves)
    assert batch.shape == (2, 80, 50)
    for row, wave in zip(batch, waves):
        torch.testing.assert_close(row, audio.log_mel(wave))


def test_mfcc_is_the_dct_of_decibel_mel_energies():
    rng = np.random.default_rng(2)
    t = np.arange(16_000) / 16_000
    wave = (0.3 * scipy.signal.chirp(t, 100, 1.0, 4000) + 0.01 * rng.normal(size=t.size)).astype(np.float32)
    ours = audio.mfcc(wave, n_mfcc=13, n_mels=40).numpy()
    assert ours.shape == (13, 1 + len(wave) // 160) and np.isfinite(ours).all()

    # Independent reference: centred reflect-padded frames, periodic Hann, |rfft|^2, mel, dB, scipy DCT.
    padded = np.pad(wave.astype(np.float64), 200, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, 400)[::160]
    power = np.abs(np.fft.rfft(frames * scipy.signal.get_window("hann", 400), axis=1)) ** 2
    mel_db = 10 * np.log10(np.maximum(power @ audio.mel_filterbank(16_000, 400, 40).T, 1e-10))
    expected = scipy.fft.dct(mel_db, type=2, norm="ortho", axis=1)[:, :13].T
    np.testing.assert_allclose(ours, expected, atol=2e-3)


def test_mfcc_rejects_more_coefficients_than_bands():
    with pytest.raises(ValueError, match="n_mfcc"):
        audio.mfcc(np.zeros(1600, dtype=np.float32), n_mfcc=50, n_mels=40)


def test_features_reject_an_empty_wave():
    with pytest.raises(ValueError, match="non-empty"):
        audio.log_mel(np.zeros(0, dtype=np.float32))
