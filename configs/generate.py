#!/usr/bin/env python3
"""Writes the tiny example datasets under configs/: PNG images of coloured squares, and JSONL
files whose ground truth matches what is drawn. Python's standard library only; deterministic.
Run from anywhere: python3 configs/generate.py"""
import json
import os
import random
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
W, H = 96, 72
COLORS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220)}


def png(pixels):
    raw = b"".join(b"\x00" + bytes(v for px in row for v in px) for row in pixels)
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def draw(squares):
    """squares: (x0, y0, size, colour) in pixels, on a light grey canvas."""
    pixels = [[(235, 235, 230)] * W for _ in range(H)]
    for x0, y0, size, colour in squares:
        for y in range(y0, y0 + size):
            pixels[y] = pixels[y][:x0] + [COLORS[colour]] * size + pixels[y][x0 + size:]
    return png(pixels)


def box(x0, y0, size):
    return {"x_min": round(x0 / W, 4), "y_min": round(y0 / H, 4),
            "x_max": round((x0 + size) / W, 4), "y_max": round((y0 + size) / H, 4)}


def square(rng):
    size = rng.randint(10, 20)
    return rng.randint(0, W - size), rng.randint(0, H - size), size


def write(skill, name, lines):
    with open(os.path.join(HERE, skill, name), "w") as out:
        for line in lines:
            out.write(json.dumps(line) + "\n")


def save(skill, image, data):
    os.makedirs(os.path.join(HERE, skill, "images"), exist_ok=True)
    with open(os.path.join(HERE, skill, "images", image), "wb") as out:
        out.write(data)


def point_set(rng, count, prefix):
    lines = []
    for i in range(count):
        x0, y0, size = square(rng)
        image = f"{prefix}{i:02d}.png"
        save("point", image, draw([(x0, y0, size, "red")]))
        if i % 2 == 0:
            truth = {"points": [{"x": round((x0 + size / 2) / W, 4), "y": round((y0 + size / 2) / H, 4)}]}
        else:
            truth = {"boxes": [box(x0, y0, size)]}
        lines.append({"id": f"{prefix}{i:02d}", "image": f"images/{image}", "skill": "point",
                      "object": "the red square", "ground_truth": truth})
    return lines


def detect_set(rng, count, prefix):
    lines = []
    for i in range(count):
        squares = []
        for _ in range(i % 4):  # 0 to 3 squares; no overlap
            for _attempt in range(50):
                x0, y0, size = square(rng)
                if all(x0 + size < a or a + s < x0 or y0 + size < b or b + s < y0 for a, b, s in squares):
                    squares.append((x0, y0, size))
                    break
        image = f"{prefix}{i:02d}.png"
        save("detect", image, draw([(x, y, s, "blue") for x, y, s in squares]))
        lines.append({"id": f"{prefix}{i:02d}", "image": f"images/{image}", "skill": "detect",
                      "object": "blue squares", "ground_truth": {"boxes": [box(x, y, s) for x, y, s in squares]}})
    return lines


def query_set(rng, count, prefix):
    lines = []
    for i in range(count):
        colour = list(COLORS)[i % 3]
        x0, y0, size = square(rng)
        image = f"{prefix}{i:02d}.png"
        save("query", image, draw([(x0, y0, size, colour)]))
        answer = {"red": ["red", "crimson"], "green": "green", "blue": ["blue", "navy"]}[colour]
        lines.append({"id": f"{prefix}{i:02d}", "image": f"images/{image}", "skill": "query",
                      "question": "What color is the square?", "answer": answer})
    return lines


if __name__ == "__main__":
    rng = random.Random(7)
    for skill, make in (("point", point_set), ("detect", detect_set), ("query", query_set)):
        write(skill, "train.jsonl", make(rng, 16, "t"))
        write(skill, "eval.jsonl", make(rng, 4, "e"))
