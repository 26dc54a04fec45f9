"""Pachyderm's OpenCV example, Vigil edition: edge-detect every image of the datum into /pfs/out/<name>."""

import os
import sys

import cv2

src_root = "/pfs/images"
for folder, _dirs, files in os.walk(src_root):
    for name in files:
        img = cv2.imread(os.path.join(folder, name), cv2.IMREAD_GRAYSCALE)
        if img is None:
            sys.exit(f"cannot decode {name}")
        edges = cv2.Canny(img, 100, 200)
        stem, _ = os.path.splitext(name)
        cv2.imwrite(os.path.join("/pfs/out", stem + ".png"), edges)
