// ort_bench.js: one ONNX model through onnxruntime-node, for tests/bench/bench.py.
//
//   NODE_PATH=CACHE/node_modules node ort_bench.js MODEL INPUT SHAPE THREADS REPEAT [OUTPUT]
//
// INPUT holds the float32 input tensor, raw little-endian, of SHAPE
// ("1,3,224,224"). The session runs on the CPU execution provider with
// THREADS intra-op threads, one inter-op thread, sequential execution and
// every graph optimisation. With OUTPUT it runs once with profiling on,
// writes the first output there (raw float32) and reports which provider
// ran how many kernels of each operator; otherwise it times REPEAT calls of
// session.run after one warm-up. Prints one JSON object.

"use strict";

const fs = require("fs");
const path = require("path");
const ort = require("onnxruntime-node");

// The profile ORT wrote under `prefix` (it appends a date), read and removed.
function kernelsRun(prefix) {
  const dir = path.dirname(prefix);
  const name = fs.readdirSync(dir).find((f) => f.startsWith(path.basename(prefix)));
  const profileFile = path.join(dir, name);
  const counts = {};
  for (const e of JSON.parse(fs.readFileSync(profileFile, "utf8"))) {
    if (e.cat === "Node" && e.name.endsWith("_kernel_time")) {
      const key = `${e.args.provider} ${e.args.op_name}`;
      counts[key] = (counts[key] || 0) + 1;
    }
  }
  fs.unlinkSync(profileFile);
  return counts;
}

async function main() {
  const [model, inputFile, shapeArg, threadsArg, repeatArg, outputFile] =
    process.argv.slice(2);
  const shape = shapeArg.split(",").map(Number);
  const threads = Number(threadsArg);
  const options = {
    executionProviders: ["cpu"],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  };
  if (outputFile) {
    options.enableProfiling = true;
    options.profileFilePrefix = `${outputFile}.profile`;
  }
  const session = await ort.InferenceSession.create(model, options);
  const raw = fs.readFileSync(inputFile);
  const data = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
  const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", data, shape) };
  const report = {
    version: ort.env.versions.node,
    providers: options.executionProviders,
    intra_op_threads: threads,
    inter_op_threads: options.interOpNumThreads,
  };
  if (outputFile) {
    const out = (await session.run(feeds))[session.outputNames[0]];
    fs.writeFileSync(outputFile, Buffer.from(out.data.buffer, out.data.byteOffset,
                                             out.data.byteLength));
    report.shape = out.dims;
    session.endProfiling();
    report.kernels = kernelsRun(options.profileFilePrefix);
  } else {
    await session.run(feeds);
    report.times_ms = [];
    for (let i = 0; i < Number(repeatArg); i++) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      report.times_ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  await session.release();
  console.log(JSON.stringify(report));
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
