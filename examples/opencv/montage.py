"""Tile every image under the given folders into one PNG (the montage step of Pachyderm's OpenCV example)."""

import os
import sys

import cv2
import numpy as np

*folders, out = sys.argv[1:]
paths = sorted(os.path.join(d, f) for folder in folders for d, _, fs in os.walk(folder) for f in fs)
tiles = []
for p in paths:
    img = cv2.imread(p, cv2.IMREAD_COLOR)
    if img is not None:
        tiles.append(cv2.resize(img, (160, 120)))
if not tiles:
    sys.exit("no images to tile")
cols = 4
while len(tiles) % cols:
    tiles.append(np.zeros_like(tiles[0]))
rows = [np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)]
cv2.imwrite(out, np.vstack(rows))
