"""Readable random run names, as MLflow gives (``adjective-animal-123``)."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "able amazing bold brave bright calm capable clean clever curious dapper eager elegant "
    "fast fearless gentle glamorous grand happy honest humble keen kind lively loud lucky "
    "merciful mysterious nimble patient polite proud quiet rare resilient rogue serene "
    "shiny silent skillful smiling sneaky spiffy stately sunny swift tasteful thoughtful "
    "unique upbeat valuable vaunted victorious wise witty youthful zealous"
).split()
_NOUNS = (
    "ant ape asp auk bass bat bear bee bird boar bug calf carp cat chimp cod colt conch cow "
    "crab crane croc crow cub deer doe dog dolphin donkey dove duck eel elk fawn finch fish "
    "flea fly foal fowl fox frog gnat gnu goat goose grouse gull hare hawk hen hog horse "
    "hound jay kit kite koi lamb lark loon lynx mare midge mink mole moose moth mouse mule "
    "newt owl ox panda perch pig pug quail ram rat ray robin roo rook seal shark sheep shoat "
    "shrew skink slug smelt snail snake squid stag stoat swan tern toad trout turtle vole "
    "wasp whale wolf worm wren yak zebra"
).split()


def random_run_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(0, 999)}"
