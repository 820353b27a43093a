/*
 * Reference outputs of the original @vladmandic/face-api networks (TF.js, pure-JS CPU backend),
 * stored as test fixtures for the PyTorch port (test/test_faceapi_reference.py).
 * Run once by a developer; never by tests or CI.
 *
 *   mkdir -p /tmp/faceapi-ref && cd /tmp/faceapi-ref && npm init -y
 *   npm pack @vladmandic/face-api@1.7.15            # -> vladmandic-face-api-1.7.15.tgz
 *   npm install @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0 \
 *       @tensorflow/tfjs-backend-webgl@4.22.0 ./vladmandic-face-api-1.7.15.tgz
 *   python scripts/faceapi_reference_inputs.py /tmp/faceapi-ref/job      # (repo root)
 *   NODE_PATH=/tmp/faceapi-ref/node_modules node scripts/faceapi_reference.js \
 *       /tmp/faceapi-ref/node_modules/@vladmandic/face-api/model /tmp/faceapi-ref/job \
 *       test/data/faceapi/reference.json
 *
 * Inputs are raw RGB bytes (decoded by Python), fed as tf.tensor3d(bytes, [h, w, 3], 'int32').
 * Takes a few minutes (the CPU backend is plain JavaScript).
 */

'use strict';

const fs = require('fs');
const path = require('path');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

const { tf } = faceapi;
const TINY_INPUT_SIZES = [416, 320];
const TINY_SCORE_THRESHOLD = 0.3;
const SSD_MIN_CONFIDENCE = 0.3;
const SSD_MAX_RESULTS = 100;
const EXPRESSION_LABELS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'];
const SSD_TOP_ANCHORS = 20; // raw (pre-NMS) outputs kept for the highest-scoring priors

const round = (v) => Number(v.toPrecision(7));
const boxJson = (b) => [b.x, b.y, b.width, b.height].map(round);

async function detections(dets) {
  return dets.map((d) => ({ score: round(d.score), box: boxJson(d.box) }));
}

async function rawSsd(image) {
  const { boxes, scores } = await faceapi.nets.ssdMobilenetv1.forward(image);
  const s = scores[0].dataSync();
  const b = boxes[0].arraySync();
  tf.dispose([...boxes, ...scores]);
  const order = Array.from(s.keys()).sort((i, j) => s[j] - s[i]).slice(0, SSD_TOP_ANCHORS);
  return order.map((i) => ({ index: i, score: round(s[i]), box: b[i].map(round) }));
}

async function rawTiny(image, inputSize) {
  const out = await faceapi.nets.tinyFaceDetector.forward(image, inputSize);
  const res = { shape: out.shape, values: Array.from(out.dataSync()).map(round) };
  out.dispose();
  return res;
}

async function faces(image, boxes) {
  const results = [];
  for (const [x, y, w, h] of boxes) {
    const rect = new faceapi.Rect(x, y, w, h);
    const [crop] = await faceapi.extractFaceTensors(image, [rect]);
    const clipped = rect.clipAtImageBorders(image.shape[1], image.shape[0]);
    const lm = await faceapi.nets.faceLandmark68Net.detectLandmarks(crop);
    const lmTiny = await faceapi.nets.faceLandmark68TinyNet.detectLandmarks(crop);
    const expr = await faceapi.nets.faceExpressionNet.predictExpressions(crop);
    const toImage = (l) => l.positions.map((p) => [round(p.x + clipped.x), round(p.y + clipped.y)]);
    results.push({
      box: [x, y, w, h],
      crop: [clipped.x, clipped.y, clipped.width, clipped.height],
      crop_shape: crop.shape,
      landmarks_68: toImage(lm),
      landmarks_68_relative: lm.relativePositions.map((p) => [round(p.x), round(p.y)]),
      landmarks_68_tiny: toImage(lmTiny),
      expressions: EXPRESSION_LABELS.map((k) => round(expr[k])),
    });
    crop.dispose();
  }
  return results;
}

async function main() {
  const [modelDir, jobDir, outFile] = process.argv.slice(2);
  if (!outFile) throw new Error('usage: node faceapi_reference.js MODEL_DIR JOB_DIR OUT.json');
  await tf.setBackend('cpu');
  await tf.ready();
  await faceapi.nets.tinyFaceDetector.loadFromDisk(modelDir);
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(modelDir);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(modelDir);
  await faceapi.nets.faceLandmark68TinyNet.loadFromDisk(modelDir);
  await faceapi.nets.faceExpressionNet.loadFromDisk(modelDir);

  const job = JSON.parse(fs.readFileSync(path.join(jobDir, 'job.json'), 'utf8'));
  const out = {
    generator: 'scripts/faceapi_reference.js',
    face_api_version: faceapi.version,
    tfjs_version: tf.version_core,
    backend: tf.getBackend(),
    expression_labels: EXPRESSION_LABELS,
    params: {
      tiny_input_sizes: TINY_INPUT_SIZES,
      tiny_score_threshold: TINY_SCORE_THRESHOLD,
      tiny_iou_threshold: 0.4,
      ssd_min_confidence: SSD_MIN_CONFIDENCE,
      ssd_max_results: SSD_MAX_RESULTS,
      ssd_iou_threshold: 0.5,
    },
    images: [],
  };
  for (const item of job.images) {
    const t0 = Date.now();
    const bytes = fs.readFileSync(path.join(jobDir, item.rgb));
    const image = tf.tensor3d(new Int32Array(bytes), [item.height, item.width, 3], 'int32');
    const tiny = {};
    for (const inputSize of TINY_INPUT_SIZES) {
      const opts = new faceapi.TinyFaceDetectorOptions({ inputSize, scoreThreshold: TINY_SCORE_THRESHOLD });
      tiny[inputSize] = {
        detections: await detections(await faceapi.nets.tinyFaceDetector.locateFaces(image, opts)),
        raw: await rawTiny(image, inputSize),
      };
    }
    const ssdOpts = new faceapi.SsdMobilenetv1Options({ minConfidence: SSD_MIN_CONFIDENCE, maxResults: SSD_MAX_RESULTS });
    const ssdDets = await detections(await faceapi.nets.ssdMobilenetv1.locateFaces(image, ssdOpts));
    const ssdRaw = await rawSsd(image);
    // face-api's chained API: expressions are computed on the box re-derived from the landmarks.
    const chained = await faceapi.detectAllFaces(image, ssdOpts).withFaceLandmarks().withFaceExpressions();
    const pipeline = chained.map((r) => ({
      box: boxJson(r.detection.box),
      landmarks_68: r.landmarks.positions.map((p) => [round(p.x), round(p.y)]),
      aligned_box: boxJson(r.alignedRect.box),
      expressions: EXPRESSION_LABELS.map((k) => round(r.expressions[k])),
    }));
    const boxes = [...ssdDets.map((d) => d.box), ...item.extra_boxes];
    out.images.push({
      name: item.name,
      width: item.width,
      height: item.height,
      tiny_face_detector: tiny,
      ssd_mobilenetv1: { detections: ssdDets, raw_top: ssdRaw },
      faces: await faces(image, boxes),
      pipeline,
    });
    image.dispose();
    console.log(`${item.name}: ${ssdDets.length} SSD faces, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  fs.writeFileSync(outFile, `${JSON.stringify(out)}\n`);
  console.log(`wrote ${outFile}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
