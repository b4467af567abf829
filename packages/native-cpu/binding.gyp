{
  # Built by scripts/build-addon.mjs (node-gyp). Needs oneDNN 2.x (Debian/Ubuntu: libdnnl-dev),
  # a C++17 compiler with OpenMP, make and python3.
  'variables': {
    # -march for the addon's own loops (oneDNN picks its kernels at run time whatever this is).
    # DQA_NATIVE_MARCH=x86-64-v2 (or another) builds a binary for other machines than this one.
    'dqa_march%': 'native',
    # A oneDNN outside the system paths (DNNLROOT): its include/ and lib/ are added.
    'dnnl_root%': '',
  },
  'targets': [
    {
      'target_name': 'dqa_native_cpu',
      'sources': [
        'native/addon.cc',
        'native/elementwise.cc',
        'native/reduce.cc',
        'native/dnnl_ops.cc',
        'native/fused.cc',
        'native/quant.cc',
        'native/quant_binding.cc',
      ],
      'dependencies': [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except_all",
      ],
      'defines': ['NAPI_VERSION=8'],
      'cflags!': ['-fno-exceptions'],
      'cflags_cc!': ['-fno-exceptions', '-fno-rtti', '-std=gnu++17'],
      'cflags': ['-O3', '-fopenmp'],
      'cflags_cc': ['-std=c++17', '-O3', '-fopenmp', '-march=<(dqa_march)', '-fno-math-errno', '-ffp-contract=off', '-Wno-unused-parameter'],
      'ldflags': ['-fopenmp'],
      'libraries': ['-ldnnl'],
      'conditions': [
        ["dnnl_root!=''", {
          'include_dirs': ['<(dnnl_root)/include'],
          'libraries': ['-L<(dnnl_root)/lib', '-Wl,-rpath,<(dnnl_root)/lib'],
        }],
      ],
    },
  ],
}
