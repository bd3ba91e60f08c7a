"""The subcommands of `affordhand`, one module each (a module may hold a close sibling, such as
`build-prior` beside `train`). Each module's `register(subparsers)` adds its parsers, whose `func` runs the
command; modules import only light settings at load, so `affordhand --help` stays instant."""

from affordhand.commands import (
    calibrate,
    convert,
    demo,
    describe,
    evaluate,
    image,
    refine,
    sample,
    serve,
    synth,
    train,
    video,
)

COMMANDS = (evaluate, synth, train, sample, refine, convert, calibrate, describe, image, video, serve, demo)
