"""Writing video files through PyAV (FFmpeg), atomically: rendered frames encoded with the clip's timestamps and
audio (`VideoWriter`: H.264, VP9 with or without alpha, ProRes 4444) or saved as PNGs (`SequenceWriter`), each
with a record of what it was made from (`read_record`).

PyAV is imported only when a video is processed: `pip install 'mmnet[video]'`.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mmnet.data.encode import encode_png, png_with_record
from mmnet.data.encode import read_record as read_png_record
from mmnet.files import remove_stale, temporary_name, writable_mode
from mmnet.runtime.videoio import Reader, VideoError, error_reason

SEQUENCE_NAME = "{:06d}.png"
RECORD_KEY = "comment"  # a video file's metadata entry: what it was made from, and how (a sequence: frame 0's)

# (encoder, pixel format, encoder options)
H264 = ("libx264", "yuv420p", {"crf": "18", "preset": "veryfast"})
VP9_OPTIONS = {"crf": "30", "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"}
VP9 = ("libvpx-vp9", "yuv420p", VP9_OPTIONS)
VP9_ALPHA = ("libvpx-vp9", "yuva420p", VP9_OPTIONS)
PRORES_4444 = ("prores_ks", "yuva444p10le", {"profile": "4444"})
BT709 = 1  # the AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic code the outputs are tagged with
MPEG_RANGE = 1  # AVCOL_RANGE_MPEG: limited range, as players expect
# RGB (0-255) -> limited-range BT.709 Y, Cb, Cr: Y = 16 + 219/255·(Kr·R + Kg·G + Kb·B), Cb and Cr = 128 + 224/255 of
# (B − Y′)/(2(1 − Kb)) and (R − Y′)/(2(1 − Kr)), with Kr = 0.2126, Kb = 0.0722.
_KR, _KB = 0.2126, 0.0722
_KG = 1 - _KR - _KB
BT709_LIMITED = np.array([
    [219 / 255 * _KR, 219 / 255 * _KG, 219 / 255 * _KB, 16],
    [-224 / 255 * _KR / (2 - 2 * _KB), -224 / 255 * _KG / (2 - 2 * _KB), 224 / 255 / 2, 128],
    [224 / 255 / 2, -224 / 255 * _KG / (2 - 2 * _KR), -224 / 255 * _KB / (2 - 2 * _KR), 128]], np.float32)


@dataclass(frozen=True)
class Container:
    """How to write one kind of video file."""

    muxer: str  # FFmpeg's format name
    video: tuple[str, str, dict]  # for --format alpha, mask, composite
    alpha: tuple[str, str, dict] | None  # for --format rgba; None: this container takes no alpha channel
    audio_copy: tuple[str, ...] | None  # audio codecs muxed as they are (None: any)
    audio_encoder: str  # other audio is re-encoded with this
    options: tuple[tuple[str, str], ...] = ()  # muxer options


MP4_AUDIO = ("aac", "mp3", "alac", "ac3", "eac3")
FASTSTART = (("movflags", "+faststart"),)  # the index first: playable while downloading
CONTAINERS = {
    ".mp4": Container("mp4", H264, None, MP4_AUDIO, "aac", FASTSTART),
    ".m4v": Container("mp4", H264, None, MP4_AUDIO, "aac", FASTSTART),
    ".mov": Container("mov", H264, PRORES_4444, MP4_AUDIO + ("pcm_s16le", "pcm_s24le", "pcm_f32le"), "aac",
                      FASTSTART),
    ".mkv": Container("matroska", H264, VP9_ALPHA, None, "aac"),
    ".webm": Container("webm", VP9, VP9_ALPHA, ("opus", "vorbis"), "libopus"),
}
AUDIO_RATES = {"libopus": 48000}  # encoders that take only some sample rates


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:  # its folder is not there or not a folder: nothing to remove
        pass



def rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """uint8 H×W×3 RGB (H, W even) -> the planes of a limited-range BT.709 yuv420p frame, (3H/2)×W: Y, then Cb
    and Cr each averaged over 2×2 pixels. OpenCV's 3×3 transform, 5× faster than swscale's conversion of a 720p
    frame here (1.0 against 5.5 ms), within a level or two of it (tests/test_video.py)."""
    height, width = rgb.shape[:2]
    y, cb, cr = cv2.split(cv2.transform(rgb, BT709_LIMITED))
    planes = np.empty((height * 3 // 2, width), np.uint8)
    planes[:height] = y
    chroma = planes[height:].reshape(2, height // 2, width // 2)
    cv2.resize(cb, (width // 2, height // 2), dst=chroma[0], interpolation=cv2.INTER_AREA)
    cv2.resize(cr, (width // 2, height // 2), dst=chroma[1], interpolation=cv2.INTER_AREA)
    return planes


class VideoWriter:
    """Encodes frames into a hidden temporary file beside `target`, muxing the source's audio along;
    `commit` renames it to `target`, `discard` deletes it."""

    def __init__(self, av: Any, target: Path, reader: Reader, format: str, record: str | None = None) -> None:
        """record: what the video is made from and how, kept in its metadata (`read_record`)."""
        spec = CONTAINERS.get(target.suffix.lower())
        if spec is None:
            raise VideoError(target, f"cannot write this kind of video; use {', '.join(CONTAINERS)}")
        codec = spec.alpha if format == "rgba" else spec.video
        if codec is None:
            raise VideoError(target, f"{target.suffix} video has no alpha channel; use .webm, .mov or .mkv")
        encoder, self.pix_fmt, options = codec
        if self.pix_fmt.startswith(("yuv420", "yuva420")) and (reader.width % 2 or reader.height % 2):
            raise VideoError(reader.path, f"{reader.width}×{reader.height}: {encoder} needs an even width and "
                                          f"height; write .mov (ProRes) or PNGs")
        self.av, self.target, self.frames = av, target, 0
        self.time_base = reader.time_base
        self.mode = writable_mode(target)  # ReadOnlyOutput for a read-only target; a writable one keeps its mode
        remove_stale(target)
        self.temporary = temporary_name(target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self.output = av.open(str(self.temporary), "w", format=spec.muxer, options=dict(spec.options))
            if record is not None:
                self.output.metadata[RECORD_KEY] = record
        except (av.FFmpegError, OSError) as error:
            _remove(self.temporary)
            raise VideoError(target, f"cannot write ({error_reason(error)})") from None
        try:
            self.stream = self.output.add_stream(encoder, rate=reader.rate, options=dict(options))
            self.stream.width, self.stream.height, self.stream.pix_fmt = reader.width, reader.height, self.pix_fmt
            self.stream.time_base = reader.time_base
            self.stream.thread_type = "AUTO"  # frame threads where the encoder has them (x264)
            context = self.stream.codec_context
            context.time_base = reader.time_base
            if reader.stream.sample_aspect_ratio:
                context.sample_aspect_ratio = reader.stream.sample_aspect_ratio
            context.colorspace = context.color_primaries = context.color_trc = BT709
            context.color_range = MPEG_RANGE
            self.audio = AudioTrack(av, reader, self.output, spec) if reader.audio is not None else None
        except BaseException:
            self.discard()
            raise

    def prepare(self, pixels: np.ndarray) -> Any:
        """A rendered frame (uint8 H×W grey, H×W×3 RGB or H×W×4 RGBA) in the encoder's pixel format, ready to
        `write`; any thread may prepare frames while another writes. RGB to yuv420p (every H.264 output) by
        `rgb_to_yuv420p`, the rest by FFmpeg's swscale."""
        if self.pix_fmt == "yuv420p" and pixels.ndim == 3 and pixels.shape[2] == 3:
            frame = self.av.VideoFrame.from_ndarray(rgb_to_yuv420p(pixels), format="yuv420p")
            frame.colorspace, frame.color_range = BT709, MPEG_RANGE
            return frame
        layout = {2: "gray", 3: "rgb24", 4: "rgba"}[pixels.ndim if pixels.ndim == 2 else pixels.shape[2]]
        frame = self.av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format=layout)
        return frame.reformat(format=self.pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG")

    def write(self, pts: int, frame: Any) -> None:
        """One frame, rendered pixels or `prepare`d, at `pts` in the source's time base."""
        if isinstance(frame, np.ndarray):
            frame = self.prepare(frame)
        frame.pts, frame.time_base = pts, self.time_base
        for packet in self.stream.encode(frame):
            self.output.mux(packet)
        if self.audio is not None:
            self.audio.mux_until(float(pts * self.time_base))
        self.frames += 1

    def flush(self) -> None:
        for packet in self.stream.encode(None):
            self.output.mux(packet)
        if self.audio is not None:
            self.audio.mux_until(None)

    def commit(self) -> int:
        """Close the file and move it to `target`; the number of frames written."""
        self._close()
        if self.mode is not None:
            os.chmod(self.temporary, self.mode)
        os.replace(self.temporary, self.target)
        return self.frames

    def discard(self) -> None:
        try:
            self._close()
        except Exception:  # an encoder or muxer already in trouble
            pass
        _remove(self.temporary)

    def _close(self) -> None:
        if getattr(self, "audio", None) is not None:
            self.audio.close()
        self.output.close()


class AudioTrack:
    """The source's first audio stream into the output, muxed as the video goes: copied where the
    container takes its codec, else decoded and re-encoded (AAC, or Opus for WebM). It is read by a
    second demuxer of the source, so that the video stages never see audio packets."""

    def __init__(self, av: Any, reader: Reader, output: Any, spec: Container) -> None:
        self.input = av.open(str(reader.path))
        self.source = self.input.streams.audio[0]
        self.output = output
        codec = self.source.codec_context.name
        self.copy = spec.audio_copy is None or codec in spec.audio_copy
        if self.copy:
            self.stream = output.add_stream_from_template(self.source)
        else:
            rate = AUDIO_RATES.get(spec.audio_encoder, self.source.rate)
            self.stream = output.add_stream(spec.audio_encoder, rate=rate)
            self.stream.layout = self.source.layout if self.source.layout.nb_channels <= 2 else "stereo"
        self.packets = self.input.demux(self.source)
        self.waiting: Any = None  # a packet read ahead of the video
        self.ended = False

    def mux_until(self, seconds: float | None) -> None:
        """Mux the audio up to `seconds` of the source's timeline (None: all that is left)."""
        while not self.ended:
            packet = self.waiting or next(self.packets, None)
            self.waiting = None
            if packet is None:
                self.ended = True
                if not self.copy:
                    self._mux(self.stream.encode(None))
                return
            if packet.dts is None and packet.pts is None:  # the demuxer's end-of-stream marker
                continue
            stamp = packet.pts if packet.pts is not None else packet.dts
            if seconds is not None and float(stamp * packet.time_base) > seconds:
                self.waiting = packet
                return
            if self.copy:
                packet.stream = self.stream
                self.output.mux(packet)
            else:
                for frame in packet.decode():
                    frame.pts = None  # the encoder counts samples itself
                    self._mux(self.stream.encode(frame))

    def _mux(self, packets: list) -> None:
        for packet in packets:
            self.output.mux(packet)

    def close(self) -> None:
        self.input.close()


class SequenceWriter:
    """PNG frames 000000.png, 000001.png... into a hidden temporary folder beside `target`; `commit` moves
    them into `target` (removing higher-numbered frames of an older, longer sequence there)."""

    def __init__(self, target: Path, record: str | None = None) -> None:
        """record: what the frames are made from and how, kept in the first frame's text chunk."""
        self.target, self.frames, self.record = target, 0, record
        self.temporary = temporary_name(target)
        try:
            self.temporary.mkdir(parents=True)
        except OSError as error:
            raise VideoError(target, f"cannot write ({error_reason(error)})") from None

    def prepare(self, pixels: np.ndarray) -> bytes:
        """A rendered frame as PNG bytes, ready to `write`; any thread may prepare frames."""
        return encode_png(pixels)

    def write(self, pts: int, frame: np.ndarray | bytes) -> None:
        """The next frame, rendered pixels or `prepare`d."""
        data = self.prepare(frame) if isinstance(frame, np.ndarray) else frame
        if self.frames == 0 and self.record is not None:
            data = png_with_record(data, self.record)
        (self.temporary / SEQUENCE_NAME.format(self.frames)).write_bytes(data)
        self.frames += 1

    def flush(self) -> None:
        pass

    def commit(self) -> int:
        self.target.mkdir(parents=True, exist_ok=True)
        for index in range(self.frames):
            name = SEQUENCE_NAME.format(index)
            os.replace(self.temporary / name, self.target / name)
        index = self.frames
        while (stale := self.target / SEQUENCE_NAME.format(index)).is_file():
            stale.unlink()
            index += 1
        self.temporary.rmdir()
        return self.frames

    def discard(self) -> None:
        shutil.rmtree(self.temporary, ignore_errors=True)


def read_record(av: Any, target: Path, sequence: bool) -> str | None:
    """The record an earlier run left in a video output (its metadata) or a PNG sequence (its first frame),
    or None where there is none or it cannot be read."""
    try:
        if sequence:
            return read_png_record(target / SEQUENCE_NAME.format(0))
        with av.open(str(target)) as container:
            return {key.lower(): value for key, value in container.metadata.items()}.get(RECORD_KEY)
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return None
