"""EmotionalDAN node: landmarks + emotion for every face of every frame (lifecycle node).

Default (`track_faces: true`, core/schedule.py): every image is processed as soon as it arrives,
on the tracked faces, whose boxes the recogniser's own landmarks carry from frame to frame; each
`faces` message (the detector runs at its own rate) confirms, opens and ends tracks, and when a
track is lost the node asks the detector for a detection on `detect_request`. With
`track_faces: false` each image waits for the `faces` of the same stamp (the detector must then
run on every frame). Either way the recogniser runs once per frame over all faces, and `emotion`
(EmotionArray, also when empty), `landmarks` and an optional `debug_image` carry the source
image's header.
"""

from __future__ import annotations

import time

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from emotionaldan_msgs.msg import (
    EmotionArray,
    Faces,
    Landmarks,
    LandmarksArray,
)
from emotionaldan_ros.core.backends import DEFAULT_BACKEND, create_recognizer
from emotionaldan_ros.core.detection.tracker import LandmarkTracker, TrackSet
from emotionaldan_ros.core.devices import device_problem
from emotionaldan_ros.core.labels import VALENCES
from emotionaldan_ros.core.overlay import draw_faces
from emotionaldan_ros.core.pairing import StampPairer
from emotionaldan_ros.core.recognizer import Prediction
from emotionaldan_ros.core.schedule import FrameScheduler
from emotionaldan_ros.nodes.common import (
    FRAME_PUB_QOS,
    FRAME_SUB_QOS,
    RESULT_QOS,
    bgr_to_image_msg,
    image_subscription,
    stamp_ns,
)
from emotionaldan_ros.nodes.messages import (
    emotion_array,
    faces_message,
    roi_boxes,
    rois_to_boxes,
    select_faces,
    select_usable_faces,
)
from emotionaldan_ros.nodes.model_node import MODEL_NODE_PARAMS, ModelNode
from emotionaldan_ros.nodes.runtime import run_lifecycle
from emotionaldan_ros.params import ParamSpec

PARAMS = (
    ParamSpec(
        "backend",
        DEFAULT_BACKEND,
        "Recogniser: 'faceapi', 'emotionaldan' (the shipped EmotionalDAN, MODELS.md), "
        "'checkpoint:PATH' (an EmotionalDAN checkpoint) or 'python:MODULE:FACTORY'",
        check=lambda v: None if str(v).strip() else "backend must not be empty",
        read_only=True,  # never at run time: python: specs run code (README, Security)
    ),
    ParamSpec(
        "device",
        "cpu",
        "Torch device for the model: 'cpu', 'cuda' or 'cuda:N' (N below the CUDA device count)",
        check=device_problem,
        reconfigure=True,
    ),
    ParamSpec(
        "surprise_valence",
        "positive",
        "3-class valence of 'surprise'",
        choices=VALENCES,
        reconfigure=True,
    ),
    ParamSpec(
        "max_faces_per_frame",
        16,
        "Faces recognised per frame at most (the highest detection scores); more are dropped "
        "(dropped_too_many_faces): bounds the work of one frame",
        range=(1, 256),
    ),
    ParamSpec(
        "track_faces",
        True,
        "Process every image at once on faces tracked by their landmarks between detections; "
        "false: wait for each image's faces (the detector must then run on every frame)",
        reconfigure=True,
    ),
    ParamSpec(
        "queue_depth",
        1,
        "Frames that may wait for the worker: 1 = only the newest (lowest latency; a frame that "
        "arrives while another waits replaces it, counted as dropped_overrun); 2 = one slow frame "
        "costs no frame, at 10-25 ms more p95 latency here (docs/realtime.md)",
        range=(1, 8),
        reconfigure=True,
    ),
    ParamSpec(
        "track_max_missed",
        1,
        "Detections in a row that may miss a tracked face before its track ends",
        range=(0, 100),
    ),
    ParamSpec(
        "track_iou", 0.3, "IoU between a detection and a track to match them", range=(0.01, 1.0)
    ),
    ParamSpec(
        "pair_cache_size",
        8,
        "Frames waiting for their pair (image/faces) when track_faces is false",
        range=(1, 256),
    ),
    ParamSpec("publish_landmarks", True, "Publish landmarks (LandmarksArray)"),
    ParamSpec("publish_debug_image", False, "Publish an annotated debug image"),
    *MODEL_NODE_PARAMS,
)


class EmotionalDanNode(ModelNode):
    """Subscribes `camera/image_raw` + `faces`; publishes `emotion`, `landmarks`, `debug_image`."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("emotionaldan", PARAMS, **kwargs)
        self.recognizer = None
        self.pairer: StampPairer[Image, Faces] = StampPairer(self.params["pair_cache_size"])
        self.params.on_change(self._on_cache_size)

    def load(self) -> None:
        """Load the model (a missing / corrupt checkpoint fails here, naming the file)."""
        p = self.params
        engine = {"engine": p["engine"], "threads": p["inference_threads"]}
        try:
            self.recognizer = create_recognizer(
                p["backend"],
                device=p["device"],
                surprise_valence=p["surprise_valence"],
                **(engine if not p["backend"].startswith("python:") else {}),
            )
            # First inferences allocate and tune (ONNX Runtime): pay for it before frames come.
            blank = np.zeros((480, 640, 3), np.uint8)
            self.recognizer.predict(blank, np.array([[200.0, 120.0, 320.0, 260.0]] * 2))
        except Exception as exc:
            raise RuntimeError(f"cannot load recogniser {p['backend']!r}: {exc}") from exc
        self.pairer = StampPairer(p["pair_cache_size"])
        self.scheduler = FrameScheduler(
            LandmarkTracker(iou_threshold=p["track_iou"], max_missed=p["track_max_missed"])
        )
        self._last_stamp = -1
        self.request_pub = self.create_lifecycle_publisher(Header, "detect_request", RESULT_QOS)
        self.emotion_pub = self.create_lifecycle_publisher(EmotionArray, "emotion", RESULT_QOS)
        self.landmarks_pub = self.create_lifecycle_publisher(
            LandmarksArray, "landmarks", RESULT_QOS
        )
        self.debug_pub = self.create_lifecycle_publisher(Image, "debug_image", FRAME_PUB_QOS)
        self.get_logger().info(f"recogniser {self.recognizer.name} ready")

    def subscribe(self) -> list:
        """Images and faces in; their callbacks queue them for the worker."""
        return [
            image_subscription(
                self, self.image_callback, self.params["image_transport"], FRAME_SUB_QOS
            ),
            self.create_subscription(Faces, "faces", self.faces_callback, RESULT_QOS),
        ]

    def _on_cache_size(self, names: set[str]) -> None:
        # The pair cache lives in the callbacks (executor thread): resized here, at once.
        if "pair_cache_size" in names:
            self.pairer.capacity = int(self.params["pair_cache_size"])

    def apply_params(self, names: set[str]) -> None:
        """Run-time changes the worker applies: the landmark tracker's rules."""
        tracker = self.scheduler.tracker
        tracker.iou_threshold = float(self.params["track_iou"])
        tracker.max_missed = int(self.params["track_max_missed"])

    def _select(self, msg: Faces, usable_roi: np.ndarray) -> np.ndarray:
        """Keep mask of the faces to recognise; bad scores, bad boxes and the excess counted."""
        sel = select_usable_faces(
            np.array([f.score for f in msg.faces], np.float64),
            usable_roi,
            self.params["max_faces_per_frame"],
        )
        for key, n in (
            ("dropped_bad_score", sel.bad_score),
            ("dropped_bad_roi", sel.bad_roi),
            ("dropped_too_many_faces", sel.too_many),
        ):
            if n:
                self.stats.count(key, n)
        if sel.bad_score or sel.bad_roi:
            self.get_logger().warning(
                "ignored faces with NaN / infinite / out-of-range scores or empty / "
                "out-of-image boxes",
                throttle_duration_sec=5.0,
            )
        if sel.too_many:
            self.get_logger().warning(
                f"more than max_faces_per_frame ({self.params['max_faces_per_frame']}) faces: "
                "kept the highest scores",
                throttle_duration_sec=5.0,
            )
        return sel.keep

    def _cap_tracks(self, tracks: TrackSet) -> TrackSet:
        """At most max_faces_per_frame tracks (best scores) for the recogniser; the rest counted.

        Tracks of several detection rounds can add up beyond one round's cap.
        """
        cap = self.params["max_faces_per_frame"]
        if len(tracks) <= cap:
            return tracks
        self.stats.count("dropped_too_many_faces", len(tracks) - cap)
        best = np.sort(np.argsort(-tracks.scores, kind="stable")[:cap])
        return TrackSet(tracks.ids[best], tracks.boxes[best], tracks.scores[best])

    def unload(self) -> None:
        """Free the model."""
        for pub in (self.emotion_pub, self.landmarks_pub, self.debug_pub, self.request_pub):
            self.destroy_publisher(pub)
        self.recognizer = None

    def image_callback(self, msg: Image) -> None:
        """Hand the image to the worker (tracking), or cache it until its faces arrive."""
        self.stats.count("received")
        if self.params["track_faces"]:
            self.offer((msg, None))
        else:
            self._pair(self.pairer.add_a(stamp_ns(msg.header), msg))

    def faces_callback(self, msg: Faces) -> None:
        """Queue a detection for the tracks (tracking), or pair it with its cached image."""
        self.stats.count("detections")
        if not self.params["track_faces"]:
            self._pair(self.pairer.add_b(stamp_ns(msg.header), msg))
            return
        boxes = roi_boxes([f.roi for f in msg.faces])
        usable = self._select(
            msg, (boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 2)
        )
        scores = np.array([f.score for f in msg.faces], np.float64)
        ids = np.array([f.id for f in msg.faces], np.int64)
        self.scheduler.add_detections(
            stamp_ns(msg.header), boxes[usable], scores[usable], ids[usable]
        )

    def _pair(self, pair: tuple[Image, Faces] | None) -> None:
        self.stats.counts["dropped_unpaired"] = self.pairer.evicted_a + self.pairer.evicted_b
        if pair is not None:
            self.offer(pair)

    def process(self, pair: tuple[Image, Faces | None]) -> None:
        """Run the recogniser on one frame and publish its results."""
        start = time.perf_counter()
        image_msg, faces_msg = pair
        image = self.decode(image_msg)
        if image is None:
            return
        height, width = image.shape[:2]
        if faces_msg is None:  # tracking: this frame's faces are the tracks
            stamp = stamp_ns(image_msg.header)
            if stamp < self._last_stamp:  # a bag looped / the clock restarted: start afresh
                self.scheduler.reset()
                self.stats.count("stream_restarts")
            self._last_stamp = stamp
            tracks = self._cap_tracks(self.scheduler.plan())
            faces = faces_message(
                image_msg.header, tracks.boxes, tracks.scores, tracks.ids, ""
            ).faces
            boxes = tracks.boxes
        else:
            boxes, usable_roi = rois_to_boxes(faces_msg, width, height)
            usable = self._select(faces_msg, usable_roi)
            faces = [f for f, ok in zip(faces_msg.faces, usable, strict=True) if ok]
            boxes = boxes[usable]
        try:
            pred = self.recognizer.predict(image, boxes)
        except Exception as exc:  # a model failure on one frame is counted, the node lives on
            self.stats.count("errors")
            self.get_logger().error(f"recogniser failed: {exc}", throttle_duration_sec=5.0)
            return
        if faces_msg is None:
            self._carry(image_msg.header, tracks, pred, width, height)
        finite = np.isfinite(pred.probs).all(axis=1) & np.isfinite(pred.landmarks).all(axis=(1, 2))
        if not finite.all():
            self.stats.count("dropped_nan", int((~finite).sum()))
            self.get_logger().warning("dropped faces with NaN outputs", throttle_duration_sec=5.0)
            pred = select_faces(pred, finite)
            faces = [f for f, ok in zip(faces, finite, strict=True) if ok]
        header = image_msg.header
        out = emotion_array(header, faces, pred, self.recognizer.name)
        out.processing_time_ms = (time.perf_counter() - start) * 1e3
        self.emotion_pub.publish(out)
        if self.params["publish_landmarks"]:
            self.landmarks_pub.publish(
                LandmarksArray(
                    header=header,
                    faces=[
                        Landmarks(header=header, face_id=e.face_id, points=e.landmarks)
                        for e in out.emotions
                    ],
                )
            )
        if self.params["publish_debug_image"]:
            overlay = draw_faces(
                image, pred.boxes, pred.probs, pred.classes, pred.landmarks, [f.id for f in faces]
            )
            self.debug_pub.publish(bgr_to_image_msg(overlay, header))
        self.stats.count("published")
        self.stats.count("faces", len(faces))
        self.stats.latency(out.processing_time_ms)

    def _carry(
        self, header: Header, tracks: TrackSet, pred: Prediction, width: int, height: int
    ) -> None:
        """Move the tracks on with this frame's landmarks; ask for a detection when one is lost."""
        outcome = self.scheduler.observe(stamp_ns(header), tracks, pred, width, height)
        if outcome.lost:
            self.stats.count("tracks_lost", len(outcome.lost))
        if outcome.want_detection:
            self.stats.count("detect_requests")
            self.request_pub.publish(header)


def main(args: list[str] | None = None) -> None:
    """Run the EmotionalDAN node (configured and activated at start)."""
    run_lifecycle(EmotionalDanNode, args)


if __name__ == "__main__":
    main()
