// Runs first in kws.js (--pre-js), before kws.wasm is compiled. kws.wasm is built with
// WebAssembly SIMD (128-bit) and exception handling: on a runtime without either,
// createKws() throws an error naming what is missing, instead of a compile error about an
// unknown opcode.
(function () {
  'use strict';
  // The smallest module using each feature: sections type, function and code of one
  // function, () -> v128 returning i8x16.splat(i32.const 0), and () -> () holding an empty
  // try block.
  const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const probes = {
    'SIMD (128-bit)': [0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00,
                       0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, 0x00, 0xfd, 0x0f, 0x0b],
    'exception handling': [0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                           0x0a, 0x07, 0x01, 0x05, 0x00, 0x06, 0x40, 0x0b, 0x0b],
  };
  if (typeof WebAssembly !== 'object') {
    throw new Error('kws.wasm needs WebAssembly, which this browser or JavaScript runtime lacks');
  }
  const missing = Object.keys(probes).filter(
      (name) => !WebAssembly.validate(new Uint8Array(header.concat(probes[name]))));
  if (missing.length) {
    throw new Error('kws.wasm needs WebAssembly SIMD (128-bit) and exception handling; this ' +
                    'browser or JavaScript runtime lacks ' + missing.join(' and ') +
                    ' (Chrome and Edge 95+, Firefox 100+, Safari 16.4+ and Node 18+ have both)');
  }
})();
