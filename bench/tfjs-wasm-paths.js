// The wasm backend fetches its .wasm binaries; serve them from this origin.
tf.wasm?.setWasmPaths("/vendor/tfjs-wasm/");
