# Copyright 2026 The cleanpose_ros Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Fetch object meshes made by others from PyPI wheels and write a mesh manifest.

The package never trains on these: they are a held-out check of what the network
learned from its procedural shapes. Sources (their licences ship with the wheels):
robosuite's bottle and can (MIT), pybullet_data's mug (zlib). PyPI has no bowl,
laptop or camera model that this script knows of. Needs pip and the package index.

    python bench/external_meshes.py --out data/meshes
    cleanpose synth --out data/synth_meshes --split test --frames 200 --seed 8 \\
        --frames-per-scene 4 --meshes data/meshes/manifest.yaml
"""

from __future__ import annotations

import argparse
from pathlib import Path
import subprocess
import sys
import tempfile
import zipfile

# (wheel, version, member in the wheel, category, canonical axes, extra keys).
# robosuite and pybullet models are Z-up (MuJoCo / Bullet); the mug's handle is +y.
SOURCES = [
    ('robosuite', '1.5.2', 'robosuite/models/assets/objects/meshes/bottle.obj', 'bottle',
     ['y', 'z', 'x'], {}),
    ('robosuite', '1.5.2', 'robosuite/models/assets/objects/meshes/can.obj', 'can',
     ['y', 'z', 'x'], {}),
    ('pybullet', '3.2.7', 'pybullet_data/objects/mug.obj', 'mug', ['y', 'z', 'x'],
     {'handle_min_x': 0.045}),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', required=True, help='folder for the meshes and manifest.yaml')
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ['# written by bench/external_meshes.py', 'meshes:']
    with tempfile.TemporaryDirectory() as tmp:
        for wheel in sorted({(w, v) for w, v, *_ in SOURCES}):
            subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps',
                            '--only-binary', ':all:', '-d', tmp, f'{wheel[0]}=={wheel[1]}'],
                           check=True)
        wheels = {p.name.split('-')[0]: p for p in Path(tmp).glob('*.whl')}
        for name, _, member, category, axes, extra in SOURCES:
            with zipfile.ZipFile(wheels[name]) as zf:
                target = out / name / Path(member).name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(member))
            lines += [f'  - category: {category}', f'    file: {name}/{target.name}',
                      f'    axes: [{", ".join(axes)}]']
            lines += [f'    {k}: {v}' for k, v in extra.items()]
    (out / 'manifest.yaml').write_text('\n'.join(lines) + '\n')
    print(f'meshes and manifest: {out / "manifest.yaml"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
