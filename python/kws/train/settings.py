"""Model and front-end settings derived from the classic flags."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from kws import MfccOptions

_MFCC = MfccOptions()  # the front end's defaults, defined once in C++

PREPROCESS_MODES = ("mfcc", "log_mel", "average", "micro")


def _next_power_of_two(n: int) -> int:
    p = 1
    while p < n:
        p <<= 1
    return p


@dataclass(frozen=True)
class ModelSettings:
    """What a model and its front end need to know about their input.

    Mirrors the classic `prepare_model_settings`: derived sizes are properties.
    """

    label_count: int = 12
    sample_rate: int = _MFCC.sample_rate
    clip_duration_ms: float = 1000.0
    window_size_ms: float = _MFCC.window_size_ms
    window_stride_ms: float = _MFCC.window_stride_ms
    feature_bin_count: int = _MFCC.dct_coefficient_count
    preprocess: str = "mfcc"
    filterbank_channel_count: int = _MFCC.filterbank_channel_count
    lower_frequency_limit: float = _MFCC.lower_frequency_limit
    upper_frequency_limit: float = _MFCC.upper_frequency_limit

    def __post_init__(self) -> None:
        if self.preprocess not in PREPROCESS_MODES:
            raise ValueError(
                f"--preprocess '{self.preprocess}' is not one of {', '.join(PREPROCESS_MODES)}"
            )
        if self.sample_rate <= 0:
            raise ValueError(f"--sample_rate must be positive, got {self.sample_rate}")
        if self.window_size_samples <= 0 or self.window_stride_samples <= 0:
            raise ValueError("--window_size_ms and --window_stride_ms must give at least one sample")
        if self.desired_samples < self.window_size_samples:
            raise ValueError(
                f"--clip_duration_ms {self.clip_duration_ms} is shorter than the window "
                f"{self.window_size_ms} ms"
            )
        if self.feature_bin_count <= 0:
            raise ValueError(f"--feature_bin_count must be positive, got {self.feature_bin_count}")
        if self.preprocess == "mfcc" and self.feature_bin_count > self.filterbank_channel_count:
            raise ValueError(
                f"--feature_bin_count {self.feature_bin_count} exceeds the "
                f"{self.filterbank_channel_count} mel channels"
            )
        if self.preprocess == "log_mel" and self.feature_bin_count != self.filterbank_channel_count:
            raise ValueError(
                f"--preprocess log_mel gives one feature per mel channel: --feature_bin_count "
                f"{self.feature_bin_count} must equal the {self.filterbank_channel_count} mel "
                f"channels"
            )
        if self.preprocess == "average" and self.feature_bin_count > self.spectrogram_bins:
            raise ValueError(
                f"--feature_bin_count {self.feature_bin_count} exceeds the "
                f"{self.spectrogram_bins} spectrogram bins"
            )

    @property
    def desired_samples(self) -> int:
        return int(self.sample_rate * self.clip_duration_ms / 1000)

    @property
    def window_size_samples(self) -> int:
        return int(self.sample_rate * self.window_size_ms / 1000)

    @property
    def window_stride_samples(self) -> int:
        return int(self.sample_rate * self.window_stride_ms / 1000)

    @property
    def fft_length(self) -> int:
        return _next_power_of_two(self.window_size_samples)

    @property
    def spectrogram_bins(self) -> int:
        return self.fft_length // 2 + 1

    @property
    def spectrogram_length(self) -> int:
        length_minus_window = self.desired_samples - self.window_size_samples
        if length_minus_window < 0:
            return 0
        return 1 + length_minus_window // self.window_stride_samples

    @property
    def average_window_width(self) -> int:
        """Frequency group width of the "average" front end (floor(bins / feature bins))."""
        return self.spectrogram_bins // self.feature_bin_count

    @property
    def fingerprint_width(self) -> int:
        """Features per frame: the coefficient count, or ceil(bins / width) for "average"."""
        if self.preprocess == "average":
            return -(-self.spectrogram_bins // self.average_window_width)
        return self.feature_bin_count

    @property
    def fingerprint_size(self) -> int:
        return self.fingerprint_width * self.spectrogram_length

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelSettings":
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in fields})
