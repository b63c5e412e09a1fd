"""Regenerates digits.csv.gz from scikit-learn's bundled copy of the UCI digits.

    pip install scikit-learn && python examples/digits-tfjs/data/export_digits.py

Output: gzip (mtime 0, so the bytes are reproducible) of a CSV with a header
line p0..p63,label and 1797 rows of 64 integer pixels (0..16) plus the label.
"""
import gzip
import os

from sklearn.datasets import load_digits

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.csv.gz")

digits = load_digits()
lines = [",".join([f"p{i}" for i in range(64)] + ["label"])]
for pixels, label in zip(digits.data.astype(int), digits.target):
    lines.append(",".join(map(str, pixels)) + f",{label}")
payload = ("\n".join(lines) + "\n").encode("ascii")

with open(OUT, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
    gz.write(payload)
print(f"wrote {OUT}: {len(lines) - 1} samples, {os.path.getsize(OUT)} bytes")
