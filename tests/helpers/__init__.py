"""Test helpers, by topic: ``cli`` (run the CLI), ``video`` (real frames into videos and back), ``data`` (the shared
labelled data), ``fakes`` (detectors at the edge), ``net`` (loopback servers, Ray clusters)."""

from tests.helpers.cli import livecam
from tests.helpers.data import CROWD, faces_covered, smooth_at, wider_crowd, ytf_tracks
from tests.helpers.fakes import FakeModel, Follow
from tests.helpers.net import RAY, RAY_PORT, free_port, on_loopback_only, on_ray_cluster, ray_cluster_why_not
from tests.helpers.video import (X264_REPEATABLE, audio_packets, make_dev_clips, make_long_dev_video, make_video,
                                 read_video)

__all__ = ["CROWD", "RAY", "RAY_PORT", "X264_REPEATABLE", "FakeModel", "Follow", "audio_packets", "faces_covered",
           "free_port", "livecam", "make_dev_clips", "make_long_dev_video", "make_video", "on_loopback_only",
           "on_ray_cluster", "ray_cluster_why_not", "read_video", "smooth_at", "wider_crowd", "ytf_tracks"]
