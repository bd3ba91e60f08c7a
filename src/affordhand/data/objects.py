"""The 30 HOGraspNet objects: category, shape, size, intentions and plausible grasp classes.

Sizes are in centimetres (length, width, height of a bounding box, and `grip` = the dimension the hand
closes around). YCB objects take the dimensions published with the YCB object set (Calli et al., "The YCB
Object and Model Set", 2015; ycbbenchmarks.com object list); the others (wine glass, disk lid, foldable
phone, note, cardboard box, credit card: ISO/IEC 7810 ID-1) are estimates of common household items.
Intentions and plausible grasps are our own judgement of how people use these objects, informed by the
grasp/object pairs that HOGraspNet records (every object there is grasped in several classes).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectSpec:
    """An object: HOGraspNet id, name, category, shape, size (cm), grip size (cm), intentions, grasps."""

    object_id: int
    name: str
    category: str
    shape: str
    size_cm: tuple[float, float, float]
    grip_cm: float
    intentions: tuple[str, ...]
    grasps: tuple[int, ...]

    @property
    def size_word(self) -> str:
        """Return 'small', 'medium' or 'large' from the largest dimension."""
        largest = max(self.size_cm)
        return "small" if largest < 9 else ("medium" if largest < 20 else "large")

    @property
    def display_name(self) -> str:
        return self.name.replace("_", " ")


_CATALOGUE = (
    (
        1,
        "cracker_box",
        "food box",
        "box",
        (16.0, 6.0, 21.0),
        6.0,
        ("hold", "pass", "open", "place"),
        (1, 3, 18, 22, 30, 10),
    ),
    (
        2,
        "potted_meat_can",
        "food can",
        "box",
        (10.0, 5.0, 8.0),
        5.0,
        ("hold", "pass", "open", "place"),
        (3, 4, 18, 22, 26, 7, 12),
    ),
    (
        3,
        "banana",
        "fruit",
        "curved cylinder",
        (19.0, 3.6, 3.6),
        3.6,
        ("hold", "peel", "eat", "pass"),
        (2, 3, 4, 9, 7, 14),
    ),
    (4, "apple", "fruit", "sphere", (7.5, 7.5, 7.5), 7.5, ("hold", "eat", "pass", "place"), (11, 13, 26, 28, 10, 27)),
    (
        5,
        "wine_glass",
        "tableware",
        "stemmed cylinder",
        (8.0, 8.0, 20.0),
        1.0,
        ("drink", "hold", "pass", "place"),
        (2, 5, 9, 14, 20, 24),
    ),
    (
        6,
        "bowl",
        "tableware",
        "hemisphere",
        (16.0, 16.0, 5.5),
        16.0,
        ("hold", "pour", "carry", "place"),
        (10, 12, 18, 22, 30),
    ),
    (
        7,
        "mug",
        "tableware",
        "cylinder with handle",
        (11.7, 8.0, 8.0),
        8.0,
        ("drink", "hold", "pour", "pass"),
        (1, 3, 31, 19, 12, 26),
    ),
    (
        8,
        "plate",
        "tableware",
        "thin disk",
        (26.0, 26.0, 2.4),
        2.4,
        ("hold", "carry", "place", "pass"),
        (18, 22, 16, 30, 12),
    ),
    (9, "spoon", "utensil", "stick", (17.0, 4.5, 1.5), 1.2, ("eat", "scoop", "stir", "pass"), (16, 20, 29, 25, 5, 24)),
    (10, "knife", "utensil", "stick", (21.5, 2.0, 1.5), 1.5, ("cut", "spread", "pass", "hold"), (17, 5, 2, 16, 25, 29)),
    (
        11,
        "small_marker",
        "stationery",
        "thin cylinder",
        (11.0, 1.0, 1.0),
        1.0,
        ("write", "draw", "pass", "uncap"),
        (20, 25, 24, 14, 33, 9),
    ),
    (
        12,
        "spatula",
        "kitchen tool",
        "stick with blade",
        (35.0, 8.3, 3.5),
        2.5,
        ("flip", "stir", "scrape", "hold"),
        (17, 4, 5, 2, 29, 3),
    ),
    (
        13,
        "flat_screwdriver",
        "tool",
        "stick",
        (21.5, 3.1, 3.1),
        3.1,
        ("screw", "pry", "pass", "hold"),
        (4, 17, 2, 3, 20, 14),
    ),
    (
        14,
        "hammer",
        "tool",
        "stick with head",
        (33.0, 12.0, 3.2),
        3.2,
        ("hammer", "hold", "pass", "carry"),
        (2, 3, 4, 17, 5, 1),
    ),
    (
        15,
        "baseball",
        "sports ball",
        "sphere",
        (7.4, 7.4, 7.4),
        7.4,
        ("throw", "hold", "catch", "pass"),
        (11, 13, 26, 28, 27),
    ),
    (
        16,
        "golf_ball",
        "sports ball",
        "sphere",
        (4.3, 4.3, 4.3),
        4.3,
        ("hold", "place", "pass", "throw"),
        (13, 14, 27, 28, 24, 33, 9),
    ),
    (
        17,
        "credit_card",
        "card",
        "thin plate",
        (8.56, 5.4, 0.08),
        0.1,
        ("pay", "insert", "pass", "hold"),
        (16, 9, 24, 22, 23, 33),
    ),
    (
        18,
        "dice",
        "game piece",
        "cube",
        (1.6, 1.6, 1.6),
        1.6,
        ("roll", "pick up", "place", "hold"),
        (24, 33, 9, 14, 27, 16),
    ),
    (
        19,
        "disk_lid",
        "lid",
        "thin disk",
        (10.0, 10.0, 1.0),
        10.0,
        ("open", "close", "hold", "place"),
        (12, 10, 18, 9, 13),
    ),
    (
        20,
        "smartphone",
        "electronic device",
        "thin box",
        (15.0, 7.2, 0.8),
        0.8,
        ("call", "type", "hold", "pass"),
        (18, 22, 30, 16, 4, 9),
    ),
    (
        21,
        "mouse",
        "electronic device",
        "rounded box",
        (11.0, 6.0, 3.8),
        6.0,
        ("click", "move", "hold", "place"),
        (12, 13, 26, 7, 27, 30),
    ),
    (
        22,
        "tape",
        "stationery",
        "ring",
        (10.0, 10.0, 5.0),
        10.0,
        ("tear", "hold", "pass", "place"),
        (10, 12, 31, 19, 18, 13),
    ),
    (
        23,
        "master_chef_can",
        "food can",
        "cylinder",
        (10.2, 10.2, 14.0),
        10.2,
        ("open", "pour", "hold", "pass"),
        (1, 3, 10, 12, 18),
    ),
    (
        24,
        "scrub_cleanser_bottle",
        "bottle",
        "cylinder",
        (6.7, 9.6, 25.0),
        6.7,
        ("squeeze", "pour", "hold", "pass"),
        (1, 3, 4, 2, 26, 7),
    ),
    (
        25,
        "large_marker",
        "stationery",
        "cylinder",
        (12.1, 1.8, 1.8),
        1.8,
        ("write", "draw", "uncap", "pass"),
        (20, 25, 14, 2, 24, 29),
    ),
    (
        26,
        "stapler",
        "stationery",
        "box",
        (15.0, 4.0, 6.0),
        4.0,
        ("staple", "press", "hold", "pass"),
        (30, 4, 3, 18, 7, 17),
    ),
    (
        27,
        "note",
        "stationery",
        "thin box",
        (7.6, 7.6, 1.0),
        1.0,
        ("write", "peel", "hold", "pass"),
        (22, 18, 9, 16, 24, 23),
    ),
    (
        28,
        "scissors",
        "tool",
        "ring handles",
        (20.0, 8.0, 1.0),
        1.5,
        ("cut", "pass", "hold", "open"),
        (19, 31, 16, 29, 9, 23),
    ),
    (
        29,
        "foldable_phone",
        "electronic device",
        "thin box",
        (8.5, 7.2, 1.7),
        1.7,
        ("open", "call", "hold", "pass"),
        (18, 22, 16, 9, 7, 30),
    ),
    (
        30,
        "cardboard_box",
        "box",
        "box",
        (15.0, 15.0, 10.0),
        10.0,
        ("carry", "open", "hold", "place"),
        (1, 10, 18, 22, 30, 12),
    ),
)

OBJECTS: dict[str, ObjectSpec] = {row[1]: ObjectSpec(*row) for row in _CATALOGUE}
OBJECTS_BY_ID: dict[int, ObjectSpec] = {o.object_id: o for o in OBJECTS.values()}
