"""lmms_robust.core.natural: captions and rationales that read like the paper's (PROTOCOL.md §2).

The items are the benchmarks' own, in their real formats (3DSRBench's 8-character ids and wording, CV-Bench's six-option
counts, V*-Bench's sentence options, Spatial-MM's yes/no questions, MME-RealWorld's "not present" and "none of the
above" options, MathVista's blanks and Chinese questions), copied from the real annotation files. Every expected
string was read, as a reader would, and written out; each item's first case is its drawn wrong target, the second
its gold.
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
    letter_mention,
    perturb,
    wrong_option,
    wrong_value,
)
from lmms_robust.resources import render, templates_dir

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = NaturalGenerator()

CV_RELATION_Q = ("Considering the relative positions of the light troffer (annotated by the red box) and the staircase "
                 "in the image provided, where is the light troffer (annotated by the red box) located with respect to "
                 "the staircase?")
CV_DEPTH_Q = ("Which object is closer to the camera taking this photo, the trailer (highlighted by a red box) or the car "
              "(highlighted by a blue box)?")
CV_DISTANCE_Q = ("Estimate the real-world distances between objects in this image. Which object is closer to the "
                 "microwave (highlighted by a red box), the bowl (highlighted by a blue box) or the bin (highlighted by "
                 "a green box)?")
D3 = "Consider the real-world 3D locations of the objects. "
D3O = "Consider the real-world 3D locations and orientations of the objects. "
D3R = "Consider the real-world 3D orientations of the objects. "
WHATSUP_CAPTIONS = ("A beer bottle on an armchair", "A beer bottle under an armchair",
                    "A beer bottle to the left of an armchair", "A beer bottle to the right of an armchair")
CAP = "The color of the man's cap is"
EGO = "This image shows the front view of the ego car. "

ITEMS = {
    # CV-Bench (test set as SpatialScore carries it): a 6-option count, and the three other tasks
    "cv_count": Item("cv_bench", "1", "How many cushions are in the image?", ("4", "5", "8", "0", "6", "7"), "6",
                     category="Count"),
    "cv_relation": Item("cv_bench", "1004", CV_RELATION_Q, ("above", "below"), "above", category="Relation"),
    "cv_depth": Item("cv_bench", "1503", CV_DEPTH_Q, ("trailer", "car"), "car", category="Depth"),
    "cv_distance": Item("cv_bench", "2105", CV_DISTANCE_Q, ("bowl", "bin"), "bin", category="Distance"),
    # 3DSRBench: 8-character ids, its own wording, one item per question type
    "3dsr_height": Item("3dsrbench", "VIN6MS3J", D3 + "Which object has a higher location?",
                        ("baseball glove", "red hat of the person in red in the back"),
                        "red hat of the person in red in the back", category="height_higher"),
    "3dsr_above": Item("3dsrbench", "GQ7BARHQ", D3 + "Is the woman in white directly underneath the yellow pedestrian "
                       "traffic light?", ("yes", "no"), "no", category="location_above"),
    "3dsr_camera": Item("3dsrbench", "JE6B21PA-flip", "Consider the real-world 3D location of the objects. Which object "
                        "is further away from the camera?", ("fire hydrant", "white advertisement board"),
                        "white advertisement board", category="location_closer_to_camera"),
    "3dsr_next_to": Item("3dsrbench", "2N3G0DUQ", D3 + "Are the Information board and the rubbish bin next to each "
                         "other or far away from each other?", ("next to each other", "far away from each other"),
                         "next to each other", category="location_next_to"),
    "3dsr_closer_to": Item("3dsrbench", "SPZF5M75-flip", D3 + "Which is closer to the fire hydrant, the bus or the "
                           "potted plants?", ("bus", "potted plants"), "potted plants",
                           category="multi_object_closer_to"),
    "3dsr_facing": Item("3dsrbench", "YWYMDDA1", D3O + "Which object is the woman facing towards, the mirror or the "
                        "picture frame?", ("mirror", "picture frame"), "mirror", category="multi_object_facing"),
    "3dsr_parallel": Item("3dsrbench", "XDHL9XIC-flip", D3R + "What is the relationship between the orientations of the "
                          "motorcycle and the sidewalk, parallel of perpendicular to each other?",
                          ("parallel", "perpendicular"), "perpendicular", category="multi_object_parallel"),
    "3dsr_same_direction": Item("3dsrbench", "V0D1QBR1", D3R + "Are the horse and the dog facing same or similar "
                                "directions, or very different directions?",
                                ("same or similar directions", "very different directions"),
                                "same or similar directions", category="multi_object_same_direction"),
    "3dsr_side_toward": Item("3dsrbench", "NPO2H022", D3O + "Which side of the cow is facing the yellow sign?",
                             ("front", "left", "back", "right"), "back",
                             category="multi_object_viewpoint_towards_object"),
    "3dsr_in_front_of": Item("3dsrbench", "94AHRB8A", D3O + "If I stand at the teddy bear's position facing where it is "
                             "facing, is the person in front of me or behind me?", ("in front of", "behind"), "behind",
                             category="orientation_in_front_of"),
    "3dsr_on_the_left": Item("3dsrbench", "H02UN3F2-flip", D3O + "If I stand at the woman's position facing where it "
                             "is facing, is the bicycle on the left or right of me?", ("on the left", "on the right"),
                             "on the right", category="orientation_on_the_left"),
    "3dsr_viewpoint": Item("3dsrbench", "GOYLSPI5", D3O + "Which side of the cat is facing the camera?",
                           ("front", "left", "back", "right"), "right", category="orientation_viewpoint"),
    # V*-Bench: full-sentence options, the gold first (as the official annotations render them)
    "vstar_color": Item("vstar_bench", "sa_30411", "What is the color of the man's cap?",
                        (f"{CAP} white.", f"{CAP} blue.", f"{CAP} black.", f"{CAP} red."), f"{CAP} white.",
                        category="direct_attributes"),
    "vstar_position": Item("vstar_bench", "sa_31784", "Is the shovel on the left or right side of the house?",
                           ("The shovel is on the right side of the house.",
                            "The shovel is on the left side of the house."),
                           "The shovel is on the right side of the house.", category="relative_position"),
    # WhatsUp (Controlled Images A): four captions
    "whatsup": Item("whatsup", "controlled_a:beer-bottle_on_armchair.jpeg:0", "Which caption best describes the image?",
                    WHATSUP_CAPTIONS, "A beer bottle on an armchair", category="on"),
    # Spatial-MM Obj: yes/no (half the set), camera perspective, facing "behind", which hand, "middle"
    "smm_yes_no": Item("spatial_mm_obj", "one_obj:8ecb499a6a.jpg:0", "Is the man on the left from camera's "
                       "perspective?", ("yes", "no"), "yes", category="one_obj"),
    "smm_there": Item("spatial_mm_obj", "two_obj:e8cb158dd7.jpg:0", "Is there a painting on the right of the desk from "
                      "camera's perspective?", ("yes", "no"), "yes", category="two_obj"),
    "smm_facing": Item("spatial_mm_obj", "one_obj:a1227d405d.jpg:0", "Which direction is the woman facing from "
                       "camera's perspective?", ("right", "behind", "top", "left"), "left", category="one_obj"),
    "smm_hand": Item("spatial_mm_obj", "two_obj:75a3568a9a.jpg:0", "In which hand is the man holding the glass?",
                     ("left", "right"), "right", category="two_obj"),
    "smm_using": Item("spatial_mm_obj", "two_obj:940faae0ff.jpg:0", "Which hand is the person using to point?",
                      ("left", "right"), "right", category="two_obj"),
    "smm_middle": Item("spatial_mm_obj", "two_obj:1e4cc14d3b.jpg:1", "Where is the green doughnut in relation to the "
                       "yellow doughnut from camera's perspective?", ("bottom", "right", "left", "middle"), "right",
                       category="two_obj"),
    "smm_relationship": Item("spatial_mm_obj", "two_obj:b05a9e1c7b.jpg:0", "What is the relationship between the dog "
                             "and the man?", ("facing away from each other", "facing toward each other"),
                             "facing toward each other", category="two_obj"),
    # Spatial-MM Multihop: options built by rule v2 (a pattern gets patterns)
    "hop_pattern": Item("spatial_mm_multihop", "multihop:beanie.jpg:0", "What pattern is on the beanie worn by the child "
                        "closest to the camera?", ("floral", "plain", "checkered", "striped"), "striped",
                        category="3-hop"),
    "hop_color": Item("spatial_mm_multihop", "multihop:a87df479a2.jpeg:0", "what color is the garment worn by the "
                      "person sitting to the left from the camera's perspective?", ("orange", "yellow", "black", "pink"),
                      "pink", category="3-hop"),
    # MME-RealWorld-Lite: the official categories' wording, "not present" and "none of the above" options
    "mme_count": Item("mme_realworld_lite", "perception/monitoring/vehicle/counting/0475",
                      "What is the number of cars in the image?", ("2", "8", "11", "1", "The image does not feature the "
                      "cars"), "2", category="Perception/Monitoring/vehicle/counting"),
    "mme_motion": Item("mme_realworld_lite", "Perception/Autonomous_Driving/Attribute_Motion_Vehicle/0146",
                       "What is motion of the black truck on the left?", ("moving", "other", "stopped", "parked",
                       "The image does not feature the object"), "moving",
                       category="Perception/Autonomous_Driving/Attribute_Motion_Vehicle"),
    "mme_future": Item("mme_realworld_lite", "Reasoning/Autonomous_Driving/Prediction_Intention_Vehicle/0161",
                       EGO + "What is the future state of the black car in the middle?", ("Turn right.",
                       "Keep going straight.", "Turn left.", "Stationary.", "The image does not feature the object."),
                       "Stationary.", category="Reasoning/Autonomous_Driving/Prediction_Intention_Vehicle"),
    "mme_should": Item("mme_realworld_lite", "Reasoning/Autonomous_Driving/Relation_Interaction_Ego2Vehicle/0067",
                       "What should the ego vehicle do when encountering the white sedan on the ego lane?",
                       ("slowing down", "no response", "following", "passing by", "The image does not feature the "
                       "object"), "no response", category="Reasoning/Autonomous_Driving/Relation_Interaction_Ego2Vehicle"),
    "mme_objects": Item("mme_realworld_lite", "Perception/Autonomous_Driving/Objects_Identify/0272",
                        EGO + "What are objects to the front of the ego car?",
                        ("There are many cars, two pedestrians, one traffic cone, and two bicycles.",
                         "There is one bicycle, one pedestrian, two cars, and two trucks.", "There is one bus and three "
                         "cars.", "There are many barriers, many cars, and three buses.", "All the above answers are "
                         "wrong."), "There is one bicycle, one pedestrian, two cars, and two trucks.",
                        category="Perception/Autonomous_Driving/Objects_Identify"),
    "mme_table": Item("mme_realworld_lite", "perception/diagram_and_table/table/2470", "What's the data of Net Present "
                      "Value in the table Investment Decision?", ("2876675", "2887988", "3785464", "3875646",
                      "This image doesn't feature the data."), "3875646",
                      category="Perception/Diagram and Table/table"),
    "mme_position": Item("mme_realworld_lite", "perception/remote_sensing/position/2527", "Where is the yellow crane in "
                         "the picture?", ("In the upper right area of the picture", "In the upper left area of the "
                         "picture", "In the lower right area of the picture", "In the lower left area of the picture",
                         "This image doesn't feature the position."), "In the upper right area of the picture",
                         category="Perception/Remote Sensing/position"),
    # MMBench (no real file here: its copies carry base64 images)
    "mmbench_direction": Item("mmbench_en_dev", "241", "Which direction is the shark's shadow pointing?",
                              ("up", "down", "left", "right"), "left", category="spatial_relationship"),
    "mmbench_caption": Item("mmbench_en_dev", "1517", "Which of the following captions best describes this image?",
                            ("A man riding a horse on a beach", "A dog sleeping on a sofa"),
                            "A dog sleeping on a sofa", category="image_topic"),
    # MathVista testmini: a blank, "Find x", a share, CLEVR's subtraction, a Chinese blank, free-form counts
    "mathvista_blank": Item("mathvista", "220", "As shown in the figure, ⊙O is the circumscribed circle of the "
                            "quadrilateral ABCD, if ∠O = 110.0, then the degree of ∠C is ()",
                            ("125°", "120°", "105°", "90°"), "125°", category="geometry problem solving"),
    "mathvista_find": Item("mathvista", "283", "$\\overline{WTY} \\cong \\overline{TWY}$. Find $x$.",
                           ("2", "4", "5", "10"), "5", category="geometry problem solving"),
    "mathvista_share": Item("mathvista", "540", "What fraction of the shape is blue?", ("3/11", "8/11", "6/11", "3/5"),
                            "3/11", category="math word problem"),
    "mathvista_zh": Item("mathvista", "17", "如图，在Rt△ABC中，∠ACB＝90°，D是AB的中点，AB＝10，则CD的长为（）",
                         ("5", "6", "8", "10"), "5", category="geometry problem solving"),
    "mathvista_clevr": Item("mathvista", "183", "Subtract all brown cubes. Subtract all gray cylinders. How many objects "
                            "are left?", answer="4", answer_type="integer", category="math word problem"),
    "mathvista_yes_no": Item("mathvista", "984", "Is the number of gray cars less than the number of small metallic "
                             "minivans?", ("Yes", "No"), "No", category="visual question answering"),
    "mathvista_dots": Item("mathvista", "s3", "How many dots are in the image?", answer="7", answer_type="integer"),
}
ITEMS["mme_ocr"] = Item("mme_realworld_lite", "perception/ocr_cc/text_recog/0863", "What is the date shown in the "
                        "bottom right corner of the picture?", ("3/21/2017", "3/20/2019", "4/20/2017", "3/20/2017",
                        "The image doesn't feature the content."), "3/20/2017",
                        category="Perception/OCR with Complex Context/text_recog")
ITEMS["mme_which"] = Item("mme_realworld_lite", "reasoning/diagram_and_table/table/0395", "Which year has the highest "
                          "revenue, according to the revenue mix per product table?", ("FY18", "FY19", "FY20", "FY21",
                          "The image does not feature the number."), "FY19",
                          category="Reasoning/Diagram and Table/table")

EXPECTED_TYPES = {
    'cv_count': 'counting',
    'cv_relation': 'relation',
    'cv_depth': 'comparison',
    'cv_distance': 'comparison',
    '3dsr_height': 'comparison',
    '3dsr_above': 'yes_no',
    '3dsr_camera': 'comparison',
    '3dsr_next_to': 'predicate',
    '3dsr_closer_to': 'comparison',
    '3dsr_facing': 'orientation',
    '3dsr_parallel': 'predicate',
    '3dsr_same_direction': 'predicate',
    '3dsr_side_toward': 'orientation',
    '3dsr_in_front_of': 'egocentric',
    '3dsr_on_the_left': 'egocentric',
    '3dsr_viewpoint': 'orientation',
    'vstar_color': 'statement',
    'vstar_position': 'statement',
    'whatsup': 'caption_choice',
    'smm_yes_no': 'yes_no',
    'smm_there': 'yes_no',
    'smm_facing': 'orientation',
    'smm_hand': 'body_part',
    'smm_using': 'body_part',
    'smm_middle': 'relation',
    'smm_relationship': 'predicate',
    'hop_pattern': 'attribute',
    'hop_color': 'attribute',
    'mme_count': 'counting',
    'mme_motion': 'action',
    'mme_future': 'action',
    'mme_should': 'action',
    'mme_objects': 'statement',
    'mme_table': 'quantity',
    'mme_position': 'relation',
    'mmbench_direction': 'orientation',
    'mmbench_caption': 'caption_choice',
    'mathvista_blank': 'quantity',
    'mathvista_find': 'quantity',
    'mathvista_share': 'quantity',
    'mathvista_zh': 'quantity',
    'mathvista_clevr': 'counting',
    'mathvista_yes_no': 'yes_no',
    'mathvista_dots': 'counting',
    'mme_ocr': 'text_reading',
    'mme_which': 'identify',
}

# (item, target, caption, rationale): the drawn wrong target first, then the gold
CASES = [
    # cv_count: counting
    ('cv_count', 'B',
     'There are 5 cushions in the image.',
     ('Let me count the cushions in the image. Going over the image from left to right, I find 5 of them and no '
      'others, so the answer is (B).')),
    ('cv_count', 'E',
     'There are 6 cushions in the image.',
     ('Let me count the cushions in the image. Going over the image from left to right, I find 6 of them and no '
      'others, so the answer is (E).')),
    # cv_relation: relation
    ('cv_relation', 'B',
     'The light troffer is below the staircase.',
     ('Let me locate the light troffer and the staircase in the image. Comparing their positions, the light '
      'troffer is below the staircase, so the answer is (B).')),
    ('cv_relation', 'A',
     'The light troffer is above the staircase.',
     ('Let me locate the light troffer and the staircase in the image. Comparing their positions, the light '
      'troffer is above the staircase, so the answer is (A).')),
    # cv_depth: comparison
    ('cv_depth', 'A',
     'The trailer is closer to the camera than the car.',
     ('The trailer is in the red box and the car in the blue box. Using depth cues such as apparent size, '
      'occlusion and height in the frame, the trailer is closer to the camera than the car, so the answer is (A).')),
    ('cv_depth', 'B',
     'The car is closer to the camera than the trailer.',
     ('The trailer is in the red box and the car in the blue box. Using depth cues such as apparent size, '
      'occlusion and height in the frame, the car is closer to the camera than the trailer, so the answer is (B).')),
    # cv_distance: comparison
    ('cv_distance', 'A',
     'The bowl is closer to the microwave than the bin.',
     ('The microwave is in the red box, the bowl in the blue box and the bin in the green box. Estimating where '
      'each object sits in 3D space rather than on the image plane, the bowl is closer to the microwave than the '
      'bin, so the answer is (A).')),
    ('cv_distance', 'B',
     'The bin is closer to the microwave than the bowl.',
     ('The microwave is in the red box, the bowl in the blue box and the bin in the green box. Estimating where '
      'each object sits in 3D space rather than on the image plane, the bin is closer to the microwave than the '
      'bowl, so the answer is (B).')),
    # 3dsr_height: comparison
    ('3dsr_height', 'A',
     'The baseball glove is located higher than the red hat of the person in red in the back.',
     ('Let me find the baseball glove and the red hat of the person in red in the back in the image. Comparing '
      'their heights in 3D space rather than their positions in the picture, the baseball glove is located higher '
      'than the red hat of the person in red in the back, so the answer is (A).')),
    ('3dsr_height', 'B',
     'The red hat of the person in red in the back is located higher than the baseball glove.',
     ('Let me find the baseball glove and the red hat of the person in red in the back in the image. Comparing '
      'their heights in 3D space rather than their positions in the picture, the red hat of the person in red in '
      'the back is located higher than the baseball glove, so the answer is (B).')),
    # 3dsr_above: yes_no
    ('3dsr_above', 'A',
     'The woman in white is directly underneath the yellow pedestrian traffic light.',
     ('I need to check whether the woman in white is directly underneath the yellow pedestrian traffic light. '
      'Looking closely at the image, the woman in white is directly underneath the yellow pedestrian traffic '
      'light, so the answer is (A).')),
    ('3dsr_above', 'B',
     'The woman in white is not directly underneath the yellow pedestrian traffic light.',
     ('I need to check whether the woman in white is directly underneath the yellow pedestrian traffic light. '
      'Looking closely at the image, the woman in white is not directly underneath the yellow pedestrian traffic '
      'light, so the answer is (B).')),
    # 3dsr_camera: comparison
    ('3dsr_camera', 'A',
     'The fire hydrant is further away from the camera than the white advertisement board.',
     ('Let me find the fire hydrant and the white advertisement board in the image. Using depth cues such as '
      'apparent size, occlusion and height in the frame, the fire hydrant is further away from the camera than '
      'the white advertisement board, so the answer is (A).')),
    ('3dsr_camera', 'B',
     'The white advertisement board is further away from the camera than the fire hydrant.',
     ('Let me find the fire hydrant and the white advertisement board in the image. Using depth cues such as '
      'apparent size, occlusion and height in the frame, the white advertisement board is further away from the '
      'camera than the fire hydrant, so the answer is (B).')),
    # 3dsr_next_to: predicate
    ('3dsr_next_to', 'B',
     'The Information board and the rubbish bin are far away from each other.',
     ('I need to locate the Information board and the rubbish bin and estimate how far apart they really are. '
      'From their sizes and positions in the scene, the Information board and the rubbish bin are far away from '
      'each other, so the answer is (B).')),
    ('3dsr_next_to', 'A',
     'The Information board and the rubbish bin are next to each other.',
     ('I need to locate the Information board and the rubbish bin and estimate how far apart they really are. '
      'From their sizes and positions in the scene, the Information board and the rubbish bin are next to each '
      'other, so the answer is (A).')),
    # 3dsr_closer_to: comparison
    ('3dsr_closer_to', 'A',
     'The bus is closer to the fire hydrant than the potted plants.',
     ('Let me find the bus and the potted plants in the image. Estimating where each object sits in 3D space '
      'rather than on the image plane, the bus is closer to the fire hydrant than the potted plants, so the '
      'answer is (A).')),
    ('3dsr_closer_to', 'B',
     'The potted plants are closer to the fire hydrant than the bus.',
     ('Let me find the bus and the potted plants in the image. Estimating where each object sits in 3D space '
      'rather than on the image plane, the potted plants are closer to the fire hydrant than the bus, so the '
      'answer is (B).')),
    # 3dsr_facing: orientation
    ('3dsr_facing', 'B',
     'The woman is facing towards the picture frame.',
     ('Let me see which way the woman is turned. The woman is facing towards the picture frame, so the answer is '
      '(B).')),
    ('3dsr_facing', 'A',
     'The woman is facing towards the mirror.',
     'Let me see which way the woman is turned. The woman is facing towards the mirror, so the answer is (A).'),
    # 3dsr_parallel: predicate
    ('3dsr_parallel', 'A',
     'The motorcycle and the sidewalk are parallel to each other.',
     ('Let me work out how the motorcycle and the sidewalk are oriented in 3D. Comparing the directions they '
      'face, the motorcycle and the sidewalk are parallel to each other, so the answer is (A).')),
    ('3dsr_parallel', 'B',
     'The motorcycle and the sidewalk are perpendicular to each other.',
     ('Let me work out how the motorcycle and the sidewalk are oriented in 3D. Comparing the directions they '
      'face, the motorcycle and the sidewalk are perpendicular to each other, so the answer is (B).')),
    # 3dsr_same_direction: predicate
    ('3dsr_same_direction', 'B',
     'The horse and the dog are facing very different directions.',
     ('Let me work out how the horse and the dog are oriented in 3D. Comparing the directions they face, the '
      'horse and the dog are facing very different directions, so the answer is (B).')),
    ('3dsr_same_direction', 'A',
     'The horse and the dog are facing the same or similar directions.',
     ('Let me work out how the horse and the dog are oriented in 3D. Comparing the directions they face, the '
      'horse and the dog are facing the same or similar directions, so the answer is (A).')),
    # 3dsr_side_toward: orientation
    ('3dsr_side_toward', 'B',
     'The left side of the cow is facing the yellow sign.',
     ('To work this out I need the orientation of the cow. From the way its body is turned, the left side of the '
      'cow is facing the yellow sign, so the answer is (B).')),
    ('3dsr_side_toward', 'C',
     'The back of the cow is facing the yellow sign.',
     ('To work this out I need the orientation of the cow. From the way its body is turned, the back of the cow '
      'is facing the yellow sign, so the answer is (C).')),
    # 3dsr_in_front_of: egocentric
    ('3dsr_in_front_of', 'A',
     "For someone standing at the teddy bear's position and facing the same way, the person is in front of them.",
     ("I imagine standing at the teddy bear's position and facing where it is facing. From there, the person is "
      'in front of me, so the answer is (A).')),
    ('3dsr_in_front_of', 'B',
     "For someone standing at the teddy bear's position and facing the same way, the person is behind them.",
     ("I imagine standing at the teddy bear's position and facing where it is facing. From there, the person is "
      'behind me, so the answer is (B).')),
    # 3dsr_on_the_left: egocentric
    ('3dsr_on_the_left', 'A',
     "For someone standing at the woman's position and facing the same way, the bicycle is on their left.",
     ('First I work out which way the woman is facing, and then I put myself in her place. Seen from there, the '
      'bicycle is on my left, so the answer is (A).')),
    ('3dsr_on_the_left', 'B',
     "For someone standing at the woman's position and facing the same way, the bicycle is on their right.",
     ('First I work out which way the woman is facing, and then I put myself in her place. Seen from there, the '
      'bicycle is on my right, so the answer is (B).')),
    # 3dsr_viewpoint: orientation
    ('3dsr_viewpoint', 'B',
     'The left side of the cat is facing the camera.',
     ('To work this out I need the orientation of the cat. From the way its body is turned, the left side of the '
      'cat is facing the camera, so the answer is (B).')),
    ('3dsr_viewpoint', 'D',
     'The right side of the cat is facing the camera.',
     ('To work this out I need the orientation of the cat. From the way its body is turned, the right side of the '
      'cat is facing the camera, so the answer is (D).')),
    # vstar_color: statement
    ('vstar_color', 'B',
     "The color of the man's cap is blue.",
     ("Let me find the man's cap in the image and look at it closely. The color of the man's cap is blue, so the "
      'answer is (B).')),
    ('vstar_color', 'A',
     "The color of the man's cap is white.",
     ("Let me find the man's cap in the image and look at it closely. The color of the man's cap is white, so the "
      'answer is (A).')),
    # vstar_position: statement
    ('vstar_position', 'B',
     'The shovel is on the left side of the house.',
     ('I need to look carefully at the shovel. Checking it against each statement, the shovel is on the left side '
      'of the house, so the answer is (B).')),
    ('vstar_position', 'A',
     'The shovel is on the right side of the house.',
     ('I need to look carefully at the shovel. Checking it against each statement, the shovel is on the right '
      'side of the house, so the answer is (A).')),
    # whatsup: caption_choice
    ('whatsup', 'C',
     'The image shows a beer bottle to the left of an armchair.',
     ('I can see a beer bottle and an armchair in the image. The beer bottle is to the left of the armchair, '
      'which is what the caption "A beer bottle to the left of an armchair" says, so the answer is (C).')),
    ('whatsup', 'A',
     'The image shows a beer bottle on an armchair.',
     ('I can see a beer bottle and an armchair in the image. The beer bottle is on the armchair, which is what '
      'the caption "A beer bottle on an armchair" says, so the answer is (A).')),
    # smm_yes_no: yes_no
    ('smm_yes_no', 'B',
     "From the camera's perspective, the man is not on the left.",
     ("I need to check whether the man is on the left from the camera's perspective. Looking closely at the "
      "image, from the camera's perspective, the man is not on the left, so the answer is (B).")),
    ('smm_yes_no', 'A',
     "From the camera's perspective, the man is on the left.",
     ("I need to check whether the man is on the left from the camera's perspective. Looking closely at the "
      "image, from the camera's perspective, the man is on the left, so the answer is (A).")),
    # smm_there: yes_no
    ('smm_there', 'B',
     "From the camera's perspective, there is no painting on the right of the desk.",
     ("I need to check whether there is a painting on the right of the desk from the camera's perspective. "
      "Looking closely at the image, from the camera's perspective, there is no painting on the right of the "
      'desk, so the answer is (B).')),
    ('smm_there', 'A',
     "From the camera's perspective, there is a painting on the right of the desk.",
     ("I need to check whether there is a painting on the right of the desk from the camera's perspective. "
      "Looking closely at the image, from the camera's perspective, there is a painting on the right of the desk, "
      'so the answer is (A).')),
    # smm_facing: orientation
    ('smm_facing', 'B',
     "From the camera's perspective, the woman is facing away from the camera.",
     ('I need to work out the orientation of the woman. Following her outline from one end to the other, from the '
      "camera's perspective, the woman is facing away from the camera, so the answer is (B).")),
    ('smm_facing', 'D',
     "From the camera's perspective, the woman is facing left.",
     ('I need to work out the orientation of the woman. Following her outline from one end to the other, from the '
      "camera's perspective, the woman is facing left, so the answer is (D).")),
    # smm_hand: body_part
    ('smm_hand', 'A',
     'The man is holding the glass in his left hand.',
     ('I need to tell the left hand of the man from the right one, taking the way the body is turned into '
      'account. The man is holding the glass in his left hand, so the answer is (A).')),
    ('smm_hand', 'B',
     'The man is holding the glass in his right hand.',
     ('I need to tell the left hand of the man from the right one, taking the way the body is turned into '
      'account. The man is holding the glass in his right hand, so the answer is (B).')),
    # smm_using: body_part
    ('smm_using', 'A',
     'The person is using their left hand to point.',
     ('I need to tell the left hand of the person from the right one, taking the way the body is turned into '
      'account. The person is using their left hand to point, so the answer is (A).')),
    ('smm_using', 'B',
     'The person is using their right hand to point.',
     ('I need to tell the left hand of the person from the right one, taking the way the body is turned into '
      'account. The person is using their right hand to point, so the answer is (B).')),
    # smm_middle: relation
    ('smm_middle', 'D',
     "From the camera's perspective, the green doughnut is in the middle relative to the yellow doughnut.",
     ('Let me locate the green doughnut and the yellow doughnut in the image. Comparing their positions from the '
      "camera's perspective, the green doughnut is in the middle relative to the yellow doughnut, so the answer "
      'is (D).')),
    ('smm_middle', 'B',
     "From the camera's perspective, the green doughnut is to the right of the yellow doughnut.",
     ('Let me locate the green doughnut and the yellow doughnut in the image. Comparing their positions from the '
      "camera's perspective, the green doughnut is to the right of the yellow doughnut, so the answer is (B).")),
    # smm_relationship: predicate
    ('smm_relationship', 'A',
     'The dog and the man are facing away from each other.',
     ('I need to compare the orientations of the dog and the man. Looking at which way each one is turned, the '
      'dog and the man are facing away from each other, so the answer is (A).')),
    ('smm_relationship', 'B',
     'The dog and the man are facing toward each other.',
     ('I need to compare the orientations of the dog and the man. Looking at which way each one is turned, the '
      'dog and the man are facing toward each other, so the answer is (B).')),
    # hop_pattern: attribute
    ('hop_pattern', 'B',
     'The beanie worn by the child closest to the camera is plain.',
     ('Let me find the beanie worn by the child closest to the camera in the image. Looking at it closely, the '
      'beanie worn by the child closest to the camera is plain, so the answer is (B).')),
    ('hop_pattern', 'D',
     'The beanie worn by the child closest to the camera is striped.',
     ('Let me find the beanie worn by the child closest to the camera in the image. Looking at it closely, the '
      'beanie worn by the child closest to the camera is striped, so the answer is (D).')),
    # hop_color: attribute
    ('hop_color', 'C',
     "The garment worn by the person sitting to the left from the camera's perspective is black.",
     ("Let me find the garment worn by the person sitting to the left from the camera's perspective in the image. "
      'Zooming in on it, its color is clearly black, so the answer is (C).')),
    ('hop_color', 'D',
     "The garment worn by the person sitting to the left from the camera's perspective is pink.",
     ("Let me find the garment worn by the person sitting to the left from the camera's perspective in the image. "
      'Zooming in on it, its color is clearly pink, so the answer is (D).')),
    # mme_count: counting
    ('mme_count', 'D',
     'There is one car in the image.',
     ('I need to count the cars in the image. Checking each part of the image in turn and keeping a tally, I get '
      'just one car, so the answer is (D).')),
    ('mme_count', 'A',
     'There are 2 cars in the image.',
     ('I need to count the cars in the image. Checking each part of the image in turn and keeping a tally, I get '
      '2 in total, so the answer is (A).')),
    # mme_motion: action
    ('mme_motion', 'B',
     'The black truck on the left is neither moving, stopped nor parked.',
     ('I need to look at the black truck on the left and the scene around it. From its position and the way it is '
      'pointed, the black truck on the left is neither moving, stopped nor parked, so the answer is (B).')),
    ('mme_motion', 'A',
     'The black truck on the left is moving.',
     ('I need to look at the black truck on the left and the scene around it. From its position and the way it is '
      'pointed, the black truck on the left is moving, so the answer is (A).')),
    # mme_future: action
    ('mme_future', 'E',
     'There is no sign of the black car in the middle in the image.',
     ('Let me look for the black car in the middle in the image. I search the whole image carefully but find no '
      'sign of the black car in the middle, so the answer is (E).')),
    ('mme_future', 'D',
     'The black car in the middle is going to stay stationary.',
     ('Let me find the black car in the middle in the image and judge how it is moving from its position, '
      'surroundings and the road. The black car in the middle is going to stay stationary, so the answer is (D).')),
    # mme_should: action
    ('mme_should', 'A',
     'When encountering the white sedan on the ego lane, the ego vehicle should be slowing down.',
     ("Let me find the white sedan on the ego lane and see how it relates to the ego vehicle's path. Given where "
      'it is and what it is doing, when encountering the white sedan on the ego lane, the ego vehicle should be '
      'slowing down, so the answer is (A).')),
    ('mme_should', 'B',
     'When encountering the white sedan on the ego lane, the ego vehicle should carry on without reacting.',
     ("Let me find the white sedan on the ego lane and see how it relates to the ego vehicle's path. Given where "
      'it is and what it is doing, when encountering the white sedan on the ego lane, the ego vehicle should '
      'carry on without reacting, so the answer is (B).')),
    # mme_objects: statement
    ('mme_objects', 'E',
     'What the image shows matches none of the listed answers.',
     ('I compare every listed choice with the scene one by one. Each of them gets something wrong, so the answer '
      'is (E).')),
    ('mme_objects', 'B',
     'There is one bicycle, one pedestrian, two cars, and two trucks.',
     ('I need to compare the statements with the scene. From what I can see, there is one bicycle, one '
      'pedestrian, two cars, and two trucks, so the answer is (B).')),
    # mme_table: quantity
    ('mme_table', 'B',
     'The data of Net Present Value in the table Investment Decision is 2887988.',
     ('Let me read the relevant values off the figure carefully. Working from those values, the data of Net '
      'Present Value in the table Investment Decision is 2887988, so the answer is (B).')),
    ('mme_table', 'D',
     'The data of Net Present Value in the table Investment Decision is 3875646.',
     ('Let me read the relevant values off the figure carefully. Working from those values, the data of Net '
      'Present Value in the table Investment Decision is 3875646, so the answer is (D).')),
    # mme_position: relation
    ('mme_position', 'D',
     'The yellow crane is in the lower left area of the picture.',
     ('I need to work out where the yellow crane is. Scanning the image, I find the yellow crane in the lower '
      'left area of the picture, so the answer is (D).')),
    ('mme_position', 'A',
     'The yellow crane is in the upper right area of the picture.',
     ('I need to work out where the yellow crane is. Scanning the image, I find the yellow crane in the upper '
      'right area of the picture, so the answer is (A).')),
    # mmbench_direction: orientation
    ('mmbench_direction', 'B',
     "The shark's shadow is pointing downward.",
     ("Let me find the shark's shadow in the image and look at how it is oriented. The shark's shadow is pointing "
      'downward, so the answer is (B).')),
    ('mmbench_direction', 'C',
     "The shark's shadow is pointing to the left.",
     ("Let me find the shark's shadow in the image and look at how it is oriented. The shark's shadow is pointing "
      'to the left, so the answer is (C).')),
    # mmbench_caption: caption_choice
    ('mmbench_caption', 'A',
     'The image shows a man riding a horse on a beach.',
     ('Looking at the image, I see a man riding a horse on a beach. That is what the caption "A man riding a '
      'horse on a beach" describes, so the answer is (A).')),
    ('mmbench_caption', 'B',
     'The image shows a dog sleeping on a sofa.',
     ('Looking at the image, I see a dog sleeping on a sofa. That is what the caption "A dog sleeping on a sofa" '
      'describes, so the answer is (B).')),
    # mathvista_blank: quantity
    ('mathvista_blank', 'B',
     'In the figure, the degree of ∠C is 120°.',
     ('Let me use the lengths and angles given in the figure and work through the geometry step by step. Doing '
      'so, in the figure, the degree of ∠C is 120°, so the answer is (B).')),
    ('mathvista_blank', 'A',
     'In the figure, the degree of ∠C is 125°.',
     ('Let me use the lengths and angles given in the figure and work through the geometry step by step. Doing '
      'so, in the figure, the degree of ∠C is 125°, so the answer is (A).')),
    # mathvista_find: quantity
    ('mathvista_find', 'A',
     'In the figure, x = 2.',
     ('Let me use the lengths and angles given in the figure and work through the geometry step by step. Doing '
      'so, in the figure, x = 2, so the answer is (A).')),
    ('mathvista_find', 'C',
     'In the figure, x = 5.',
     ('Let me use the lengths and angles given in the figure and work through the geometry step by step. Doing '
      'so, in the figure, x = 5, so the answer is (C).')),
    # mathvista_share: quantity
    ('mathvista_share', 'D',
     '3/5 of the shape is blue.',
     ('Let me look at the image carefully and work through the question. From what the image shows, 3/5 of the '
      'shape is blue, so the answer is (D).')),
    ('mathvista_share', 'A',
     '3/11 of the shape is blue.',
     ('Let me look at the image carefully and work through the question. From what the image shows, 3/11 of the '
      'shape is blue, so the answer is (A).')),
    # mathvista_zh: quantity
    ('mathvista_zh', 'C',
     '图中，CD的长为8。',
     '我先看清图中给出的条件，再一步一步推导。由此可得CD的长为8, so the answer is (C).'),
    ('mathvista_zh', 'A',
     '图中，CD的长为5。',
     '我先看清图中给出的条件，再一步一步推导。由此可得CD的长为5, so the answer is (A).'),
    # mathvista_clevr: counting
    ('mathvista_clevr', '5',
     'After subtracting all brown cubes and all gray cylinders, there are 5 objects left.',
     ('I need to count the objects left after subtracting all brown cubes and all gray cylinders. Checking each '
      'part of the image in turn and keeping a tally, I get 5 in total, so the answer is 5.')),
    ('mathvista_clevr', '4',
     'After subtracting all brown cubes and all gray cylinders, there are 4 objects left.',
     ('I need to count the objects left after subtracting all brown cubes and all gray cylinders. Checking each '
      'part of the image in turn and keeping a tally, I get 4 in total, so the answer is 4.')),
    # mathvista_yes_no: yes_no
    ('mathvista_yes_no', 'A',
     'The number of gray cars is less than the number of small metallic minivans.',
     ('I need to check whether the number of gray cars is less than the number of small metallic minivans. '
      'Looking closely at the image, the number of gray cars is less than the number of small metallic minivans, '
      'so the answer is (A).')),
    ('mathvista_yes_no', 'B',
     'The number of gray cars is not less than the number of small metallic minivans.',
     ('I need to check whether the number of gray cars is less than the number of small metallic minivans. '
      'Looking closely at the image, the number of gray cars is not less than the number of small metallic '
      'minivans, so the answer is (B).')),
    # mathvista_dots: counting
    ('mathvista_dots', '6',
     'There are 6 dots in the image.',
     ('I need to count the dots in the image. Checking each part of the image in turn and keeping a tally, I get '
      '6 in total, so the answer is 6.')),
    ('mathvista_dots', '7',
     'There are 7 dots in the image.',
     ('I need to count the dots in the image. Checking each part of the image in turn and keeping a tally, I get '
      '7 in total, so the answer is 7.')),
    # mme_ocr: text_reading
    ('mme_ocr', 'C',
     'The date shown in the bottom right corner of the picture is 4/20/2017.',
     ('I need to read the date shown in the bottom right corner of the picture. Looking closely at the '
      'characters, the date shown in the bottom right corner of the picture is 4/20/2017, so the answer is (C).')),
    ('mme_ocr', 'D',
     'The date shown in the bottom right corner of the picture is 3/20/2017.',
     ('I need to read the date shown in the bottom right corner of the picture. Looking closely at the '
      'characters, the date shown in the bottom right corner of the picture is 3/20/2017, so the answer is (D).')),
    # mme_which: identify
    ('mme_which', 'C',
     'FY20 has the highest revenue, according to the revenue mix per product table.',
     ('Let me compare each year in the image. FY20 has the highest revenue, according to the revenue mix per '
      'product table, so the answer is (C).')),
    ('mme_which', 'B',
     'FY19 has the highest revenue, according to the revenue mix per product table.',
     ('Let me compare each year in the image. FY19 has the highest revenue, according to the revenue mix per '
      'product table, so the answer is (B).')),
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
    item = ITEMS["3dsr_viewpoint"]  # wrong option B (left), gold D (right)
    assert perturb(item, "misleadcap").caption == "The left side of the cat is facing the camera."
    assert perturb(item, "misleadcap").text_source == "natural/orientation"
    assert perturb(item, "truecap").caption == "The right side of the cat is facing the camera."
    assert perturb(item, "misleadcap_disclaimer").caption == ("The left side of the cat is facing the camera. "
                                                               "But I could be wrong.")
    assert perturb(item, "wrongthink").prefill == "<think>" + GENERATOR.rationale(item, "B")
    assert perturb(item, "wrongthink_but").prefill.endswith("so the answer is (B). But")
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
        assert 2 <= len(re.findall(r"[.!?](?:\s|$)|。", rationale)) <= 3, rationale  # 2-3 sentences


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_captions_state_content_never_an_option_letter(name):
    item = ITEMS[name]
    for target in targets(item):
        caption = GENERATOR.caption(item, target)
        assert caption and caption == caption.strip() and caption.endswith((".", "。"))
        assert caption[0].isupper() or caption[0].isdigit() or not caption[0].isascii()  # "3/5 of ...", "图中"
        assert not re.search(r"\([A-Z]\)|\b(?:option|choice|answer)\b", caption, re.IGNORECASE), caption
        assert letter_mention(caption, item.letters) is None, caption
        assert "  " not in caption and "\n" not in caption
        if item.is_multiple_choice:  # and no letter in the reasoning before the commitment either
            body = GENERATOR.rationale(item, target)[: -len(commitment(item, target))]
            assert not re.search(r"\([A-Z]\)|\banswer\b", body), body


def test_sentence_options_are_the_caption_themselves():
    item = ITEMS["vstar_color"]
    for letter, sentence in zip(item.letters, item.options):
        assert GENERATOR.caption(item, letter) == sentence  # "The color of the man's cap is blue."


def test_the_target_option_is_stated_not_another():
    item = Item("vstar_bench", "sa_4690", "What is the color of the woman's bag?", ("black", "white", "red", "blue"),
                "red", category="direct_attributes")
    for letter, color in zip(item.letters, item.options):
        assert GENERATOR.caption(item, letter) == f"The woman's bag is {color}."


def test_counts_agree_in_number_and_are_never_negative():
    item = ITEMS["cv_count"]
    assert GENERATOR.caption(item, "D") == "There are no cushions in the image."  # the option "0"
    count = Item("mathvista", "z", "How many cars are there?", answer="0", answer_type="integer")
    assert perturb(count, "misleadcap").caption == "There is one car."  # a zero gold steps up to 1, never to -1
    assert GENERATOR.describe(count, "-1").startswith("generic: counting question, the value '-1'")


@pytest.mark.parametrize(("name", "target", "caption"), [
    ("3dsr_closer_to", "B", "The potted plants are closer to the fire hydrant than the bus."),
    ("hop_color", "C", "The garment worn by the person sitting to the left from the camera's perspective is black."),
])
def test_the_verb_agrees_with_a_plural_subject(name, target, caption):
    assert GENERATOR.caption(ITEMS[name], target) == caption


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
    ("Does the man wear a hat?", ("yes", "no"), "B", "The man does not wear a hat."),
    ("Where is the small green square in relation to the large yellow square?", ("left", "top", "middle", "bottom"),
     "C", "The small green square is in the middle relative to the large yellow square."),
    ("Are the scissors below the banana?", ("yes", "no"), "A", "The scissors are below the banana."),
    ("Is the traffic camera directly above the wheelchair?", ("yes", "no"), "A",
     "The traffic camera is directly above the wheelchair."),
    ("Is there the painting brush on the right from camera's perspective?", ("yes", "no"), "B",
     "From the camera's perspective, there is no painting brush on the right."),
    ("Which side of the black SUV is facing the the \"NORTH PARK\" sign?", ("front", "left"), "B",
     'The left side of the black SUV is facing the "NORTH PARK" sign.'),
    ("Where is the tricycle in the image?", ("The upper left corner", "The left center"), "B",
     "The tricycle is in the left center of the image."),
    ("What type of the traffic signal (excluding traffic lights) is on the right?", ("stop sign", "no parking"), "B",
     'The traffic signal on the right is a "no parking" sign.'),
    ("What is written on the red billboard to the right of the wreath?", ("CINEMA", "CANADA"), "B",
     '"CANADA" is written on the red billboard to the right of the wreath.'),
    ("If the number of grasshoppers decreases, what will the population of spiders most likely do?",
     ("remain the same", "increase", "decrease"), "C",
     "If the number of grasshoppers decreases, the population of spiders will most likely decrease."),
    ("Look at the table. Then answer the question. At a price of $790, is there a shortage or a surplus?",
     ("shortage", "surplus"), "A", "At a price of $790, there is a shortage."),
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
    assert GENERATOR.caption(ITEMS["cv_relation"], "A") == "The light troffer is above the staircase."


def test_frames_that_change_the_meaning_are_kept():
    ego = GENERATOR.caption(ITEMS["3dsr_on_the_left"], "A")
    assert ego == "For someone standing at the woman's position and facing the same way, the bicycle is on their left."
    assert "From the camera's perspective" in GENERATOR.caption(ITEMS["smm_yes_no"], "B")


# --- the fallback ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("question", "options", "why"), [
    ("What should the ego car do at the next intersection?", ("turn left", "go straight", "stop"),
     "no question type matches the wording"),
    ("\u2220BOC = ?", ("135\u00b0", "140\u00b0", "145\u00b0"), "no question type matches the wording"),
    ("How many of the cars are red?", ("1", "2"), "no question type matches the wording"),
    # options that are the image's own labels: any caption would name one (MathVista's picture puzzles)
    ("Choose the answer for the missing picture.", ("A", "B", "C", "D"),
     "the options are labels in the image (A, B, ... or 1, 2, ...): any statement would name one"),
])
def test_items_that_cannot_be_phrased_fall_back_and_say_why(question, options, why):
    item = Item("demo", "fb", question, options, options[0])
    assert classify(item) == "template"
    for target in item.letters:
        assert GENERATOR.caption(item, target) == TemplateGenerator().caption(item, target)
        assert GENERATOR.rationale(item, target) == TemplateGenerator().rationale(item, target)
        assert GENERATOR.describe(item, target) == f"generic: {why}"


def test_one_unphrasable_option_costs_only_its_own_target():
    item = Item("demo", "fb", "Where is the woman facingfrom camera's perspective?",
                ("left", "right", "back", "foront"), "left", category="one_obj")  # "foront" (sic, in the release)
    assert GENERATOR.describe(item, "D") == "generic: relation question, option 'foront' cannot be phrased"
    assert GENERATOR.describe(item, "A") == "natural/relation"


def test_free_form_values_are_stated_with_their_unit():
    item = Item("mathvista", "s4", "What is the length of the segment, in cm, to one decimal place?", answer="3.5",
                answer_type="float", precision=1, unit="cm")
    assert GENERATOR.caption(item, "3.4") == "The length of the segment is 3.4 cm."
    assert GENERATOR.rationale(item, "3.4").endswith("so the answer is 3.4.")
    money = Item("mathvista", "268", "Colton wants to buy 1+3/10 kilograms of English muffins. How much will he spend? "
                 "(Unit: $)", answer="10.4", answer_type="float", precision=1)
    assert GENERATOR.caption(money, "10.3") == "He will spend $10.3."


def test_a_custom_fallback_is_used():
    class Fixed:
        def caption(self, item, target):
            return f"cap {target}"

        def rationale(self, item, target):
            return f"why {target}"

    item = Item("demo", "fb", "What should the ego car do?", ("stop", "go"), "stop")
    assert NaturalGenerator(fallback=Fixed()).caption(item, "B") == "cap B"
    assert NaturalGenerator(fallback=Fixed()).caption(ITEMS["vstar_color"], "D") == "The color of the man's cap is red."


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
    for kind in (*QUESTION_TYPES, "absent", "none"):
        for part in ("caption", "rationale"):
            assert (folder / f"{kind}_{part}.jinja").is_file(), (kind, part)
    assert render("natural/counting_caption.jinja", form="there", n=3, plural="cars", singular="car",
                  rest="on the road", past=False, total=False, after="", cap=str.capitalize) == \
        "there are 3 cars on the road."  # the generator capitalises the first letter


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
