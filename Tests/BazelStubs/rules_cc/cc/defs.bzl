# Bazel 4 loads these from @rules_cc; they are the native rules (EndToEndTests/REAPIEndToEndTests passes this
# directory with --override_repository, so nothing is downloaded).

def cc_binary(**kwargs):
    native.cc_binary(**kwargs)

def cc_library(**kwargs):
    native.cc_library(**kwargs)

def cc_test(**kwargs):
    native.cc_test(**kwargs)

def cc_toolchain(**kwargs):
    native.cc_toolchain(**kwargs)

def cc_toolchain_suite(**kwargs):
    native.cc_toolchain_suite(**kwargs)
