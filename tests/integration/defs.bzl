"""integration_test: a Python test that runs the real bladesync binaries."""

def integration_test(name, srcs, data = [], tags = [], args = [], main = None, size = "medium"):
    native.py_test(
        name = name,
        size = size,
        srcs = srcs,
        args = args,
        main = main,
        data = ["//cmd:bladesync", "//cmd:bladesyncd"] + data,
        python_version = "PY3",
        tags = tags,
        deps = [":cluster_harness"],
    )
