"""lmms_robust.core.natural: captions and rationales that read like the paper's (PROTOCOL.md §2).

The questions are the benchmarks' own (the fixtures' wording and ids); the expected strings were written out by
hand and checked against the generator. Each item's first case is its drawn wrong option, the second its gold.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmms_robust.core.items import Item
from lmms_robust.core.natural import PHRASING_KEY, QUESTION_TYPES, NaturalGenerator, classify
from lmms_robust.core.parse import cot_conclusion, parse_response
from lmms_robust.core.perturb import (
    TemplateGenerator,
    _draw,
    default_generator,
    perturb,
    wrong_option,
    wrong_value,
)
from lmms_robust.resources import render, templates_dir

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = NaturalGenerator()

CV_RELATION_Q = ("Considering the relative positions of the lamp (annotated by the red box) and the sofa (annotated by "
                 "the blue box) in the image provided, where is the lamp (annotated by the red box) located with "
                 "respect to the sofa (annotated by the blue box)?")
CV_DEPTH_Q = ("Which object is closer to the camera taking this photo, the chair (highlighted by a red box) or the "
              "table (highlighted by a blue box)?")
CV_DISTANCE_Q = ("Estimate the real-world distances between objects in this image. Which object is closer to the lamp "
                 "(highlighted by a red box), the bed (highlighted by a blue box) or the pillow (highlighted by a "
                 "green box)?")
WHATSUP_CAPTIONS = ("A mug on a table", "A mug under a table", "A mug to the left of a table",
                    "A mug to the right of a table")

ITEMS = {
    "cv_count": Item("cv_bench", "0", "How many cars are in the image?", ("3", "2", "1", "0"), "2", category="Count"),
    "cv_relation": Item("cv_bench", "1", CV_RELATION_Q, ("left", "right"), "left", category="Relation"),
    "cv_depth": Item("cv_bench", "2", CV_DEPTH_Q, ("chair", "table"), "table", category="Depth"),
    "cv_distance": Item("cv_bench", "3", CV_DISTANCE_Q, ("bed", "pillow"), "bed", category="Distance"),
    "3dsr_side": Item("3dsrbench", "Q3D00001", "Which side of the dog is facing the camera?",
                      ("front", "back", "left side", "right side"), "right side", category="orientation_viewpoint"),
    "3dsr_height": Item("3dsrbench", "Q3D00002", "Which object is higher in the 3D world space, the lamp or the table?",
                        ("the lamp", "the table"), "the lamp", category="height_higher"),
    "3dsr_viewpoint": Item("3dsrbench", "Q3D00003", "Is the cup on the left of the laptop from the laptop's viewpoint?",
                           ("yes", "no"), "no", category="orientation_on_the_left"),
    "3dsr_closer": Item("3dsrbench", "Q3D00004", "Which object is closer to the camera, the chair or the sofa?",
                        ("the chair", "the sofa", "they are equally close"), "the sofa",
                        category="location_closer_to_camera"),
    "vstar_color": Item("vstar_bench", "sa_4690", "What is the color of the woman's bag?",
                        ("black", "white", "red", "blue"), "red", category="direct_attributes"),
    "vstar_position": Item("vstar_bench", "sa_1103", "Is the motorcycle on the left or right side of the dog?",
                           ("left", "right"), "right", category="relative_position"),
    "vstar_material": Item("vstar_bench", "sa_2977", "What is the material of the glove?",
                           ("rubber", "cotton", "leather", "wool"), "rubber", category="direct_attributes"),
    "whatsup": Item("whatsup", "controlled_a:mug_under_table.png:0", "Which caption best describes the image?",
                    WHATSUP_CAPTIONS, "A mug under a table", category="under"),
    "smm_side": Item("spatial_mm_obj", "one_obj:c0ffee0001.png:0", "Which side of the cat is facing the camera?",
                     ("front", "back", "left", "right"), "left", category="one_obj"),
    "smm_where": Item("spatial_mm_obj", "one_obj:c0ffee0001.png:1",
                      "Where is the red square located from camera's perspective?",
                      ("left", "right", "behind", "top left"), "right", category="one_obj"),
    "smm_two": Item("spatial_mm_obj", "two_obj:c0ffee0003.png:0",
                    "Where is the green square in relation to the yellow square from camera's perspective?",
                    ("front", "left", "right", "below"), "right", category="two_obj"),
    "smm_direction": Item("spatial_mm_obj", "one_obj:c0ffee0002.png:0",
                          "Which direction is the blue bar pointing from camera's perspective?",
                          ("up", "down", "left", "right"), "right", category="one_obj"),
    "smm_object": Item("spatial_mm_obj", "two_obj:c0ffee0004.png:0",
                       "What is the object to the left of the man holding the umbrella?",
                       ("bicycle", "umbrella stand", "dog", "car"), "bicycle", category="two_obj"),
    "hop_yes_no": Item("spatial_mm_multihop", "multihop:c0ffee0101.png:0",
                       "Is the red square to the left of the bar that is above the circle?", ("yes", "no"), "no",
                       category="3-hop"),
    "hop_color": Item("spatial_mm_multihop", "multihop:c0ffee0103.png:0",
                      "What color is the shape directly below the black bar?", ("red", "green", "pink", "purple"),
                      "red", category="2-hop"),
    "hop_object": Item("spatial_mm_multihop", "multihop:c0ffee0104.png:0",
                       "What object is to the right of the bar that is above the circle?", ("kite", "flag", "lamp"),
                       "flag", category="2-hop"),
    "hop_perspective": Item("spatial_mm_multihop", "multihop:c0ffee0104.png:1",
                            "Where is the blue square from the perspective of the figure facing the camera?",
                            ("left back", "left front", "right back", "right front"), "right back",
                            category="4-hop"),
    "mme_count": Item("mme_realworld_lite", "mrw-0001", "How many people are in the image?",
                      ("2", "3", "4", "5", "6"), "4", category="Perception/Monitoring/counting"),
    "mme_ocr": Item("mme_realworld_lite", "mrw-0002", "What is the number written on the bus?",
                    ("15", "51", "115", "151", "511"), "15",
                    category="Perception/OCR with Complex Context/text recognition"),
    "mme_color": Item("mme_realworld_lite", "mrw-0003", "What is the color of the car in the lower right corner?",
                      ("white", "black", "red", "silver", "The image does not feature the object"), "silver",
                      category="Perception/Autonomous_Driving/attribute"),
    "mmbench_direction": Item("mmbench_en_dev", "241", "Which direction is the shark's shadow pointing?",
                              ("up", "down", "left", "right"), "left", category="spatial_relationship"),
    "mmbench_color": Item("mmbench_en_dev", "1002",
                          "The photo was taken on a rainy street.\nWhat is the color of the umbrella?",
                          ("red", "yellow", "blue"), "red", category="attribute_recognition"),
    "mmbench_caption": Item("mmbench_en_dev", "1517", "Which of the following captions best describes this image?",
                            ("A man riding a horse on a beach", "A dog sleeping on a sofa"),
                            "A dog sleeping on a sofa", category="image_topic"),
    "mathvista_dots": Item("mathvista", "s3", "How many dots are in the image?", answer="7", answer_type="integer"),
}

EXPECTED_TYPES = {
    "cv_count": "counting", "cv_relation": "relation", "cv_depth": "comparison", "cv_distance": "comparison",
    "3dsr_side": "orientation", "3dsr_height": "comparison", "3dsr_viewpoint": "yes_no", "3dsr_closer": "comparison",
    "vstar_color": "attribute", "vstar_position": "relation", "vstar_material": "attribute",
    "whatsup": "caption_choice", "smm_side": "orientation", "smm_where": "relation", "smm_two": "relation",
    "smm_direction": "orientation", "smm_object": "identify", "hop_yes_no": "yes_no", "hop_color": "attribute",
    "hop_object": "identify", "hop_perspective": "relation", "mme_count": "counting", "mme_ocr": "text_reading",
    "mme_color": "attribute", "mmbench_direction": "orientation", "mmbench_color": "attribute",
    "mmbench_caption": "caption_choice", "mathvista_dots": "counting",
}

# (item, target, caption, rationale)
CASES = [
    # cv_count: counting
    ("cv_count", "D",
     "There are no cars in the image.",
     ("I need to check for cars in the image. Checking each part of the image in turn, I see none at all, so the "
      "answer is (D).")),
    ("cv_count", "B",
     "There are 2 cars in the image.",
     ("I need to count the cars in the image. Checking each part of the image in turn and keeping a tally, I get 2 "
      "in total, so the answer is (B).")),
    # cv_relation: relation
    ("cv_relation", "B",
     "The lamp is to the right of the sofa.",
     ("The lamp is marked by the red box and the sofa by the blue box. Comparing where the two marked objects sit "
      "in the image, the lamp is to the right of the sofa, so the answer is (B).")),
    ("cv_relation", "A",
     "The lamp is to the left of the sofa.",
     ("The lamp is marked by the red box and the sofa by the blue box. Comparing where the two marked objects sit "
      "in the image, the lamp is to the left of the sofa, so the answer is (A).")),
    # cv_depth: comparison
    ("cv_depth", "A",
     "The chair is closer to the camera than the table.",
     ("The chair is in the red box and the table in the blue box. Using depth cues such as apparent size, occlusion "
      "and height in the frame, the chair is closer to the camera than the table, so the answer is (A).")),
    ("cv_depth", "B",
     "The table is closer to the camera than the chair.",
     ("The chair is in the red box and the table in the blue box. Using depth cues such as apparent size, occlusion "
      "and height in the frame, the table is closer to the camera than the chair, so the answer is (B).")),
    # cv_distance: comparison
    ("cv_distance", "B",
     "The pillow is closer to the lamp than the bed.",
     ("The lamp is in the red box, the bed in the blue box and the pillow in the green box. Estimating where each "
      "object sits in 3D space rather than on the image plane, the pillow is closer to the lamp than the bed, so "
      "the answer is (B).")),
    ("cv_distance", "A",
     "The bed is closer to the lamp than the pillow.",
     ("The lamp is in the red box, the bed in the blue box and the pillow in the green box. Estimating where each "
      "object sits in 3D space rather than on the image plane, the bed is closer to the lamp than the pillow, so "
      "the answer is (A).")),
    # 3dsr_side: orientation
    ("3dsr_side", "A",
     "The front of the dog is facing the camera.",
     ("To work this out I need the orientation of the dog. From the way its body is turned, the front of the dog is "
      "facing the camera, so the answer is (A).")),
    ("3dsr_side", "D",
     "The right side of the dog is facing the camera.",
     ("To work this out I need the orientation of the dog. From the way its body is turned, the right side of the "
      "dog is facing the camera, so the answer is (D).")),
    # 3dsr_height: comparison
    ("3dsr_height", "B",
     "The table is higher in the 3D world space than the lamp.",
     ("Let me find the lamp and the table in the image. Comparing their heights in 3D space rather than their "
      "positions in the picture, the table is higher in the 3D world space than the lamp, so the answer is (B).")),
    ("3dsr_height", "A",
     "The lamp is higher in the 3D world space than the table.",
     ("Let me find the lamp and the table in the image. Comparing their heights in 3D space rather than their "
      "positions in the picture, the lamp is higher in the 3D world space than the table, so the answer is (A).")),
    # 3dsr_viewpoint: yes_no
    ("3dsr_viewpoint", "A",
     "The cup is on the left of the laptop from the laptop's viewpoint.",
     ("The question is whether the cup is on the left of the laptop from the laptop's viewpoint. Examining the "
      "image, the cup is on the left of the laptop from the laptop's viewpoint, so the answer is (A).")),
    ("3dsr_viewpoint", "B",
     "The cup is not on the left of the laptop from the laptop's viewpoint.",
     ("The question is whether the cup is on the left of the laptop from the laptop's viewpoint. Examining the "
      "image, the cup is not on the left of the laptop from the laptop's viewpoint, so the answer is (B).")),
    # 3dsr_closer: comparison
    ("3dsr_closer", "C",
     "The chair and the sofa are equally close to the camera.",
     ("Let me find the chair and the sofa in the image. Using depth cues such as apparent size, occlusion and "
      "height in the frame, the chair and the sofa are equally close to the camera, so the answer is (C).")),
    ("3dsr_closer", "B",
     "The sofa is closer to the camera than the chair.",
     ("Let me find the chair and the sofa in the image. Using depth cues such as apparent size, occlusion and "
      "height in the frame, the sofa is closer to the camera than the chair, so the answer is (B).")),
    # vstar_color: attribute
    ("vstar_color", "A",
     "The woman's bag is black.",
     ("I need to locate the woman's bag first. Once I find it and look closely, the woman's bag is black, so the "
      "answer is (A).")),
    ("vstar_color", "C",
     "The woman's bag is red.",
     ("I need to locate the woman's bag first. Once I find it and look closely, the woman's bag is red, so the "
      "answer is (C).")),
    # vstar_position: relation
    ("vstar_position", "A",
     "The motorcycle is on the left side of the dog.",
     ("First I find the dog, and then I look at where the motorcycle is relative to it. The motorcycle is on the "
      "left side of the dog, so the answer is (A).")),
    ("vstar_position", "B",
     "The motorcycle is on the right side of the dog.",
     ("First I find the dog, and then I look at where the motorcycle is relative to it. The motorcycle is on the "
      "right side of the dog, so the answer is (B).")),
    # vstar_material: attribute
    ("vstar_material", "D",
     "The glove is made of wool.",
     ("Let me find the glove in the image. Zooming in on its surface and texture, the glove is made of wool, so the "
      "answer is (D).")),
    ("vstar_material", "A",
     "The glove is made of rubber.",
     ("Let me find the glove in the image. Zooming in on its surface and texture, the glove is made of rubber, so "
      "the answer is (A).")),
    # whatsup: caption_choice
    ("whatsup", "C",
     "The image shows a mug to the left of a table.",
     ('I can see a mug and a table in the image. The mug is to the left of the table, which is what the caption "A '
      'mug to the left of a table" says, so the answer is (C).')),
    ("whatsup", "B",
     "The image shows a mug under a table.",
     ('I can see a mug and a table in the image. The mug is under the table, which is what the caption "A mug under '
      'a table" says, so the answer is (B).')),
    # smm_side: orientation
    ("smm_side", "D",
     "The right side of the cat is facing the camera.",
     ("Let me work out how the cat is oriented relative to the camera. Looking at which parts of the cat I can see, "
      "its right side is the part turned toward the camera, so the answer is (D).")),
    ("smm_side", "C",
     "The left side of the cat is facing the camera.",
     ("Let me work out how the cat is oriented relative to the camera. Looking at which parts of the cat I can see, "
      "its left side is the part turned toward the camera, so the answer is (C).")),
    # smm_where: relation
    ("smm_where", "C",
     "From the camera's perspective, the red square is in the back.",
     ("Let me find the red square in the image. From the camera's perspective, the red square is in the back, so "
      "the answer is (C).")),
    ("smm_where", "B",
     "From the camera's perspective, the red square is on the right.",
     ("Let me find the red square in the image. From the camera's perspective, the red square is on the right, so "
      "the answer is (B).")),
    # smm_two: relation
    ("smm_two", "B",
     "From the camera's perspective, the green square is to the left of the yellow square.",
     ("Let me locate the green square and the yellow square in the image. Comparing their positions from the "
      "camera's perspective, the green square is to the left of the yellow square, so the answer is (B).")),
    ("smm_two", "C",
     "From the camera's perspective, the green square is to the right of the yellow square.",
     ("Let me locate the green square and the yellow square in the image. Comparing their positions from the "
      "camera's perspective, the green square is to the right of the yellow square, so the answer is (C).")),
    # smm_direction: orientation
    ("smm_direction", "A",
     "From the camera's perspective, the blue bar is pointing upward.",
     ("Let me find the blue bar in the image and look at how it is oriented. From the camera's perspective, the "
      "blue bar is pointing upward, so the answer is (A).")),
    ("smm_direction", "D",
     "From the camera's perspective, the blue bar is pointing to the right.",
     ("Let me find the blue bar in the image and look at how it is oriented. From the camera's perspective, the "
      "blue bar is pointing to the right, so the answer is (D).")),
    # smm_object: identify
    ("smm_object", "D",
     "The object to the left of the man holding the umbrella is a car.",
     ("Let me look at what is to the left of the man holding the umbrella. There I can see a car, so the answer is "
      "(D).")),
    ("smm_object", "A",
     "The object to the left of the man holding the umbrella is a bicycle.",
     ("Let me look at what is to the left of the man holding the umbrella. There I can see a bicycle, so the answer "
      "is (A).")),
    # hop_yes_no: yes_no
    ("hop_yes_no", "A",
     "The red square is to the left of the bar that is above the circle.",
     ("The question is whether the red square is to the left of the bar that is above the circle. Examining the "
      "image, the red square is to the left of the bar that is above the circle, so the answer is (A).")),
    ("hop_yes_no", "B",
     "The red square is not to the left of the bar that is above the circle.",
     ("The question is whether the red square is to the left of the bar that is above the circle. Examining the "
      "image, the red square is not to the left of the bar that is above the circle, so the answer is (B).")),
    # hop_color: attribute
    ("hop_color", "D",
     "The shape directly below the black bar is purple.",
     ("Let me find the shape directly below the black bar in the image. Zooming in on it, its color is clearly "
      "purple, so the answer is (D).")),
    ("hop_color", "A",
     "The shape directly below the black bar is red.",
     ("Let me find the shape directly below the black bar in the image. Zooming in on it, its color is clearly red, "
      "so the answer is (A).")),
    # hop_object: identify
    ("hop_object", "C",
     "The lamp is to the right of the bar that is above the circle.",
     ("Let me look at what is to the right of the bar that is above the circle. There I can see the lamp, so the "
      "answer is (C).")),
    ("hop_object", "B",
     "The flag is to the right of the bar that is above the circle.",
     ("Let me look at what is to the right of the bar that is above the circle. There I can see the flag, so the "
      "answer is (B).")),
    # hop_perspective: relation
    ("hop_perspective", "A",
     "From the perspective of the figure facing the camera, the blue square is on the left and in the back.",
     ("Let me find the blue square in the image. From the perspective of the figure facing the camera, the blue "
      "square is on the left and in the back, so the answer is (A).")),
    ("hop_perspective", "C",
     "From the perspective of the figure facing the camera, the blue square is on the right and in the back.",
     ("Let me find the blue square in the image. From the perspective of the figure facing the camera, the blue "
      "square is on the right and in the back, so the answer is (C).")),
    # mme_count: counting
    ("mme_count", "D",
     "There are 5 people in the image.",
     ("I need to count the people in the image. Checking each part of the image in turn and keeping a tally, I get "
      "5 in total, so the answer is (D).")),
    ("mme_count", "C",
     "There are 4 people in the image.",
     ("I need to count the people in the image. Checking each part of the image in turn and keeping a tally, I get "
      "4 in total, so the answer is (C).")),
    # mme_ocr: text_reading
    ("mme_ocr", "B",
     "The number written on the bus is 51.",
     ("I need to read the number written on the bus. Looking closely at the characters, the number written on the "
      "bus is 51, so the answer is (B).")),
    ("mme_ocr", "A",
     "The number written on the bus is 15.",
     ("I need to read the number written on the bus. Looking closely at the characters, the number written on the "
      "bus is 15, so the answer is (A).")),
    # mme_color: attribute
    ("mme_color", "E",
     "There is no sign of the car in the lower right corner in the image.",
     ("Let me look for the car in the lower right corner in the image. I search the whole image carefully but find "
      "no sign of the car in the lower right corner, so the answer is (E).")),
    ("mme_color", "D",
     "The car in the lower right corner is silver.",
     ("I need to locate the car in the lower right corner first. Once I find it and look closely, the car in the "
      "lower right corner is silver, so the answer is (D).")),
    # mmbench_direction: orientation
    ("mmbench_direction", "B",
     "The shark's shadow is pointing downward.",
     ("Let me find the shark's shadow in the image and look at how it is oriented. The shark's shadow is pointing "
      "downward, so the answer is (B).")),
    ("mmbench_direction", "C",
     "The shark's shadow is pointing to the left.",
     ("Let me find the shark's shadow in the image and look at how it is oriented. The shark's shadow is pointing "
      "to the left, so the answer is (C).")),
    # mmbench_color: attribute
    ("mmbench_color", "B",
     "The umbrella is yellow.",
     ("I need to locate the umbrella first. Once I find it and look closely, the umbrella is yellow, so the answer "
      "is (B).")),
    ("mmbench_color", "A",
     "The umbrella is red.",
     ("I need to locate the umbrella first. Once I find it and look closely, the umbrella is red, so the answer is "
      "(A).")),
    # mmbench_caption: caption_choice
    ("mmbench_caption", "A",
     "The image shows a man riding a horse on a beach.",
     ('Looking at the image, I see a man riding a horse on a beach. That is what the caption "A man riding a horse '
      'on a beach" describes, so the answer is (A).')),
    ("mmbench_caption", "B",
     "The image shows a dog sleeping on a sofa.",
     ('Looking at the image, I see a dog sleeping on a sofa. That is what the caption "A dog sleeping on a sofa" '
      "describes, so the answer is (B).")),
    # mathvista_dots: counting
    ("mathvista_dots", "6",
     "There are 6 dots in the image.",
     ("I need to count the dots in the image. Checking each part of the image in turn and keeping a tally, I get 6 "
      "in total, so the answer is 6.")),
    ("mathvista_dots", "7",
     "There are 7 dots in the image.",
     ("I need to count the dots in the image. Checking each part of the image in turn and keeping a tally, I get 7 "
      "in total, so the answer is 7.")),
]


def targets(item: Item) -> list[str]:
    return list(item.letters) if item.is_multiple_choice else [wrong_value(item), item.answer, "0", "1", "12"]


def commitment(item: Item, target: str) -> str:
    return f"so the answer is ({target})." if item.is_multiple_choice else f"so the answer is {target}."


# --- exact text for the benchmarks' questions ------------------------------------------------------------------

@pytest.mark.parametrize(("name", "target", "caption", "rationale"), CASES,
                         ids=[f"{case[0]}-{case[1]}" for case in CASES])
def test_caption_and_rationale_render_exactly(name, target, caption, rationale):
    item = ITEMS[name]
    assert GENERATOR.caption(item, target) == caption
    assert GENERATOR.rationale(item, target) == rationale


def test_cases_cover_the_drawn_wrong_target_and_the_gold_of_every_item():
    for name, item in ITEMS.items():
        drawn = [case[1] for case in CASES if case[0] == name]
        if item.is_multiple_choice:
            assert drawn == [wrong_option(item), item.gold_letters[0]], name
        else:
            assert drawn == [wrong_value(item), item.answer], name


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_question_type(name):
    assert classify(ITEMS[name]) == EXPECTED_TYPES[name]


def test_every_question_type_is_exercised():
    assert set(EXPECTED_TYPES.values()) == set(QUESTION_TYPES)


def test_perturb_uses_the_natural_generator_by_default():
    assert isinstance(default_generator(), NaturalGenerator)
    item = ITEMS["3dsr_side"]  # wrong option A (front), gold D (right side)
    assert perturb(item, "misleadcap").caption == "The front of the dog is facing the camera."
    assert perturb(item, "truecap").caption == "The right side of the dog is facing the camera."
    assert perturb(item, "misleadcap_disclaimer").caption == ("The front of the dog is facing the camera. "
                                                               "But I could be wrong.")
    assert perturb(item, "wrongthink").prefill == "<think>" + GENERATOR.rationale(item, "A")
    assert perturb(item, "wrongthink_but").prefill.endswith("so the answer is (A). But")
    free = ITEMS["mathvista_dots"]
    assert perturb(free, "misleadcap").caption == "There are 6 dots in the image."
    assert perturb(free, "wrongthink").prefill.endswith("I get 6 in total, so the answer is 6.")


# --- the commitment the parser reads, for every option of every item -------------------------------------------

@pytest.mark.parametrize("name", sorted(ITEMS))
def test_rationale_concludes_exactly_the_target_for_every_option(name):
    item = ITEMS[name]
    for target in targets(item):
        rationale = GENERATOR.rationale(item, target)
        assert rationale.endswith(commitment(item, target)), rationale
        assert cot_conclusion(rationale, item) == target, rationale
        parsed = parse_response("<think>" + rationale, item)  # the wrongthink prefill, continued by nothing
        assert parsed.cot_conclusion == target
        assert 2 <= len(re.findall(r"[.!?](?:\s|$)", rationale)) <= 3, rationale  # 2-3 sentences


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_captions_state_content_never_an_option_letter(name):
    item = ITEMS[name]
    for target in targets(item):
        caption = GENERATOR.caption(item, target)
        assert caption and caption == caption.strip() and caption.endswith(".")
        assert caption[0].isupper()
        assert not re.search(r"\([A-Z]\)|\b(?:option|choice|answer)\b", caption, re.IGNORECASE), caption
        assert "  " not in caption and "\n" not in caption
        if item.is_multiple_choice:  # and no letter in the reasoning before the commitment either
            body = GENERATOR.rationale(item, target)[: -len(commitment(item, target))]
            assert not re.search(r"\([A-Z]\)|\banswer\b", body), body


def test_caption_states_the_target_option_not_another():
    item = ITEMS["vstar_color"]
    for letter, color in zip(item.letters, item.options):
        caption = GENERATOR.caption(item, letter)
        assert caption == f"The woman's bag is {color}."


# --- phrasings of questions outside the fixtures -----------------------------------------------------------------

@pytest.mark.parametrize(("question", "options", "target", "caption"), [
    ("How many sheep can you see?", ("1", "5"), "A", "There is one sheep in the image."),
    ("How many buses were parked?", ("1", "2"), "A", "There was one bus parked."),
    ("How many birds are there in the image?", ("0", "4"), "A", "There are no birds in the image."),
    ("Is there a dog in the image?", ("yes", "no"), "B", "There is no dog in the image."),
    ("Are there any people on the bench?", ("Yes", "No"), "A", "There are people on the bench."),
    ("Is the sky blue?", ("yes", "no"), "B", "The sky is not blue."),
    ("Is the person facing the car?", ("yes", "no"), "A", "The person is facing the car."),
    ("Is the cat to the left or right of the dog?", ("left", "right"), "B", "The cat is to the right of the dog."),
    ("Is the dog above or below the table?", ("above", "below"), "B", "The dog is below the table."),
    ("Where are the keys located in the image?", ("left", "right"), "A", "The keys are on the left."),
    ("Where is the dog?", ("on the sofa", "under the table"), "B", "The dog is under the table."),
    ("Which direction does the arrow point?", ("left", "up"), "A", "The arrow points to the left."),
    ("Which direction is the dog facing?", ("left", "toward the camera"), "B",
     "The dog is facing toward the camera."),
    ("Which object is the man facing, the car or the tree?", ("the car", "the tree"), "B",
     "The man is facing the tree."),
    ("Which object is farther from the camera?", ("sofa", "lamp", "table"), "B",
     "The lamp is farther from the camera than either the sofa or the table."),
    ("What is the shape of the sign?", ("circle", "rectangular"), "A", "The sign is shaped like a circle."),
    ("What does the sign say?", ("STOP", "GO"), "A", 'The sign says "STOP".'),
    ("What is the time shown on the clock?", ("3:15", "4:20"), "B", "The time shown on the clock is 4:20."),
    ("What is the animal next to the tree?", ("horse", "owl"), "B", "The animal next to the tree is an owl."),
    ("Which bar is the tallest?", ("red", "green"), "B", "The green bar is the tallest."),
    ("Which shape has the most sides?", ("triangle", "hexagon"), "B", "The hexagon has the most sides."),
    ("Which of the following statements is true?", ("The cat is on the mat.", "The dog is under the table."), "A",
     "The cat is on the mat."),
])
def test_more_question_wordings(question, options, target, caption):
    item = Item("demo", "q", question, options, options[0])
    assert GENERATOR.caption(item, target) == caption
    assert cot_conclusion(GENERATOR.rationale(item, target), item) == target


def test_annotation_parentheticals_are_dropped_but_the_object_names_kept():
    for name in ("cv_relation", "cv_depth", "cv_distance"):
        for target in ITEMS[name].letters:
            text = GENERATOR.caption(ITEMS[name], target) + GENERATOR.rationale(ITEMS[name], target)
            assert "annotated" not in text and "highlighted" not in text and "(" not in text.split("answer is")[0]
    assert GENERATOR.caption(ITEMS["cv_relation"], "A") == "The lamp is to the left of the sofa."


# --- the fallback ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("question", "options"), [
    ("What should the ego car do at the next intersection?", ("turn left", "go straight", "stop")),
    ("Does the man wear a hat?", ("yes", "no")),
    ("\u2220BOC = ?", ("135\u00b0", "140\u00b0", "145\u00b0")),
    # One option that cannot be said with a reference object ("middle"): the whole item falls back, so the wrong
    # and the gold target of an item always read in the same style.
    ("Where is the small green square in relation to the large yellow square?", ("left", "top", "middle", "bottom")),
    ("How many of the cars are red?", ("1", "2")),
])
def test_items_that_cannot_be_phrased_fall_back_to_the_template_generator(question, options):
    item = Item("demo", "fb", question, options, options[0])
    assert classify(item) == "template"
    for target in item.letters:
        assert GENERATOR.caption(item, target) == TemplateGenerator().caption(item, target)
        assert GENERATOR.rationale(item, target) == TemplateGenerator().rationale(item, target)


def test_free_form_items_without_a_natural_phrasing_fall_back():
    item = Item("mathvista", "s4", "What is the length of the segment, in cm, to one decimal place?", answer="3.5",
                answer_type="float", precision=1, unit="cm")
    assert GENERATOR.caption(item, "3.4") == "The image shows that the answer is 3.4."
    assert GENERATOR.rationale(item, "3.4").endswith("so the answer is 3.4.")


def test_a_custom_fallback_is_used():
    class Fixed:
        def caption(self, item, target):
            return f"cap {target}"

        def rationale(self, item, target):
            return f"why {target}"

    item = Item("demo", "fb", "What should the ego car do?", ("stop", "go"), "stop")
    assert NaturalGenerator(fallback=Fixed()).caption(item, "B") == "cap B"
    assert NaturalGenerator(fallback=Fixed()).caption(ITEMS["vstar_color"], "C") == "The woman's bag is red."


def test_a_target_that_is_not_a_letter_is_refused():
    with pytest.raises(ValueError):
        GENERATOR.caption(ITEMS["vstar_color"], "Z")
    with pytest.raises(ValueError):
        GENERATOR.rationale(ITEMS["vstar_color"], "red")


# --- determinism -------------------------------------------------------------------------------------------------

def test_phrasing_is_picked_by_the_sha256_draw_of_benchmark_and_item_id():
    items = [Item("cv_bench", str(i), "How many cars are in the image?", ("3", "2"), "2") for i in range(12)]
    for item in items:
        even = _draw(item, PHRASING_KEY) % 2 == 0
        assert GENERATOR.rationale(item, "B").startswith("Let me count" if even else "I need to count")
        assert GENERATOR.caption(item, "B") == "There are 2 cars in the image."
    assert len({GENERATOR.rationale(item, "B") for item in items}) == 2
    # the same id in another benchmark is another draw; the category and the options do not enter it
    moved = Item("mme_realworld_lite", "0", "How many cars are in the image?", ("3", "2"), "2")
    assert _draw(moved, PHRASING_KEY) != _draw(items[0], PHRASING_KEY)


def _dump() -> str:
    out = {}
    for name, item in sorted(ITEMS.items()):
        out[name] = [(GENERATOR.caption(item, t), GENERATOR.rationale(item, t)) for t in targets(item)]
    return json.dumps(out, sort_keys=True)


def test_same_input_same_bytes_in_any_process_and_hash_seed():
    first = _dump()
    assert _dump() == first
    code = ("import sys; sys.path.insert(0, 'tests/core'); import test_natural as t; "
            "sys.stdout.write(t._dump())")
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                              check=True)
        assert done.stdout == first


# --- templates -----------------------------------------------------------------------------------------------------

def test_every_question_type_has_its_caption_and_rationale_template():
    folder = templates_dir() / "natural"
    for kind in (*QUESTION_TYPES, "absent"):
        for part in ("caption", "rationale"):
            assert (folder / f"{kind}_{part}.jinja").is_file(), (kind, part)
    assert render("natural/counting_caption.jinja", n=3, plural="cars", singular="car", rest="on the road",
                  past=False) == "There are 3 cars on the road."


# --- properties --------------------------------------------------------------------------------------------------

_texts = st.text(min_size=1, max_size=60).filter(str.strip)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(question=_texts, options=st.lists(_texts, min_size=2, max_size=6), gold=st.integers(0, 5),
       pick=st.integers(0, 5), category=st.one_of(st.none(), st.text(max_size=20),
                                                  st.sampled_from(sorted({i.category or "" for i in ITEMS.values()}))))
def test_arbitrary_questions_never_raise_and_always_commit_to_the_target(question, options, gold, pick, category):
    item = Item("fuzz", "x", question, tuple(options), options[gold % len(options)], category=category)
    target = item.letters[pick % len(options)]
    caption = GENERATOR.caption(item, target)
    rationale = GENERATOR.rationale(item, target)
    assert isinstance(caption, str) and caption.strip()
    assert rationale.endswith(f"so the answer is ({target}).")


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(question=_texts, value=st.integers(-10**6, 10**6))
def test_arbitrary_free_form_questions_commit_to_the_value(question, value):
    item = Item("fuzz", "x", question, answer=str(value + 1), answer_type="integer")
    rationale = GENERATOR.rationale(item, str(value))
    assert GENERATOR.caption(item, str(value)).strip()
    assert rationale.endswith(f"so the answer is {value}.")
    assert cot_conclusion(rationale, item) == str(value)


_NOUNS = st.sampled_from(["dog", "the cat", "the red square", "the man's hat", "people", "boxes", "Kevin",
                          "the umbrella stand", "a tree", "the car (annotated by the red box)", "its tail",
                          "the man holding the umbrella", "the answer", "option B"])
_OPTIONS = st.sampled_from(["left", "right", "top left", "front", "back", "middle", "yes", "no", "red", "0", "1",
                            "12", "three", "the chair", "they are equally close",
                            "The image does not feature the object",
                            "A mug on a table", "A cat is sleeping.", "leather", "left side", "up",
                            "toward the camera", "bicycle", "on the table", "so the answer is (A)", "(C)",
                            "I pick A", "\\boxed{A}"])
_FRAMES = st.sampled_from([
    "How many {a} are in the image?", "Where is {a} located with respect to {b}?", "Where is {a}?",
    "Is {a} on the left or right side of {b}?", "Which side of {a} is facing {b}?", "Which direction is {a} pointing?",
    "Which object is closer to the camera, {a} or {b}?", "What is the color of {a}?", "What is {a} made of?",
    "What is the number written on {a}?", "What does {a} say?", "What is the object to the left of {a}?",
    "What object is next to {a}?", "Which bar is {a}?", "Is {a} to the left of {b}?", "Is there {a} in the image?",
    "Which caption best describes the image?", "Which object is {a} facing?",
    "Estimate the distances. Which object is closer to {a}, {b} or the pillow?", "Hint.\nWhat color is {a}?"])


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(frame=_FRAMES, a=_NOUNS, b=_NOUNS, options=st.lists(_OPTIONS, min_size=2, max_size=5, unique=True),
       pick=st.integers(0, 4))
def test_question_shaped_inputs_conclude_exactly_the_target(frame, a, b, options, pick):
    item = Item("fuzz", frame[:12], frame.format(a=a, b=b), tuple(options), options[0])
    target = item.letters[pick % len(options)]
    rationale = GENERATOR.rationale(item, target)
    assert rationale.endswith(f"so the answer is ({target}).")
    assert cot_conclusion(rationale, item) == target
    if classify(item) != "template":
        assert not re.search(r"\([A-Z]\)", GENERATOR.caption(item, target)) or any("(" in o for o in options)
