"""A small synthetic sample in MathVista's schema, with images drawn here (no real MathVista data is shipped).

It covers what the protocol distinguishes: multiple choice with 2, 3, 4 and 5 options, a repeated choice,
free-form integer, float with precision, an answer with a unit, and a ``list`` answer.
"""

from __future__ import annotations

from pathlib import Path

SAMPLE_ROWS = [
    dict(pid="s1", question="Which bar is the tallest?", choices=["red", "green", "blue", "yellow"], answer="green",
         question_type="multi_choice", answer_type="text", unit=None, precision=None),
    dict(pid="s2", question="Is the circle to the left of the square?", choices=["Yes", "No"], answer="No",
         question_type="multi_choice", answer_type="text", unit=None, precision=None),
    dict(pid="s3", question="How many dots are in the image?", choices=None, answer="7",
         question_type="free_form", answer_type="integer", unit=None, precision=None),
    dict(pid="s4", question="What is the length of the segment, in cm, to one decimal place?", choices=None,
         answer="3.5", question_type="free_form", answer_type="float", unit="cm", precision=1.0),
    dict(pid="s5", question="What colour is the large shape?", choices=["blue", "red", "blue", "green", "white"],
         answer="blue", question_type="multi_choice", answer_type="text", unit=None, precision=None),
    dict(pid="s6", question="How many years separate the two marked dates?", choices=None, answer="12",
         question_type="free_form", answer_type="integer", unit="years", precision=None),
    dict(pid="s7", question="Which shape has the most sides?", choices=["triangle", "square", "hexagon"],
         answer="hexagon", question_type="multi_choice", answer_type="text", unit=None, precision=None),
    dict(pid="s8", question="List the heights of the two bars.", choices=None, answer="[2, 5]",
         question_type="free_form", answer_type="list", unit=None, precision=None),
]


def draw_image(index: int, size: int = 64):
    """A deterministic picture per item: a few coloured shapes."""
    from PIL import Image, ImageDraw

    palette = [(220, 40, 40), (40, 180, 60), (40, 80, 220), (230, 200, 40), (30, 30, 30)]
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for k in range(index % 4 + 2):
        color = palette[(index + k) % len(palette)]
        x0, y0 = (7 * k + 5 * index) % (size - 16), (11 * k + 3 * index) % (size - 16)
        draw.rectangle([x0, y0, x0 + 12 + k, y0 + 10 + 2 * k], fill=color)
    return image


def sample_dataset(rows: list[dict] | None = None):
    """The sample as a Hugging Face Dataset with MathVista's columns (``decoded_image`` an Image feature)."""
    import datasets

    rows = rows if rows is not None else SAMPLE_ROWS
    records = []
    for index, row in enumerate(rows):
        records.append({**row, "image": f"images/{row['pid']}.png", "query": row["question"],
                        "metadata": {"split": "testmini", "source": "lmms-robust synthetic sample"},
                        "decoded_image": draw_image(index)})
    features = datasets.Features({
        "pid": datasets.Value("string"), "question": datasets.Value("string"), "image": datasets.Value("string"),
        "decoded_image": datasets.Image(), "choices": datasets.Sequence(datasets.Value("string")),
        "unit": datasets.Value("string"), "precision": datasets.Value("float64"), "answer": datasets.Value("string"),
        "question_type": datasets.Value("string"), "answer_type": datasets.Value("string"),
        "query": datasets.Value("string"),
        "metadata": {"split": datasets.Value("string"), "source": datasets.Value("string")},
    })
    return datasets.Dataset.from_list(records, features=features)


def write_sample(out: str | Path, rows: list[dict] | None = None, split: str = "testmini") -> Path:
    """Save the sample with ``save_to_disk`` as a DatasetDict holding ``split``; returns the directory."""
    import datasets

    out = Path(out)
    datasets.DatasetDict({split: sample_dataset(rows)}).save_to_disk(str(out))
    return out
