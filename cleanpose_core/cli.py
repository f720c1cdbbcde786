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

"""The `cleanpose` command: `cleanpose <command> [options] [key=value ...]`.

Each command lives in the module that owns its concept and exposes
``add_arguments(parser)`` and ``run(args) -> int``. Commands of other packages
(cleanpose_ros's `make-bag`) register through the ``cleanpose.commands`` entry point
group, so this module never imports them.
"""

from __future__ import annotations

import argparse
import importlib
from importlib import metadata
import logging
import sys
from typing import Optional, Sequence

from cleanpose_core.errors import CleanPoseError
from cleanpose_core.log import setup_logging

__all__ = ['main', 'COMMANDS']

log = logging.getLogger(__name__)

# name -> (module, one-line help)
COMMANDS = {
    'synth': ('cleanpose_core.data.synth.command', 'synthesise an RGB-D dataset in NOCS layout'),
    'export-yolo': ('cleanpose_core.data.yolo_export',
                    'export a NOCS-layout split as an ultralytics segmentation dataset'),
    'train-teacher': ('cleanpose_core.train.teacher_command',
                      'pretrain the frozen 3D teacher on the synthetic shape library'),
    'train': ('cleanpose_core.train.command', 'train CleanPoseNet'),
    'eval': ('cleanpose_core.pipeline.eval_command',
             'score poses the way the NOCS benchmark does'),
    'ablation': ('cleanpose_core.eval.ablation', 'train and score the ablation table'),
    'train-segmenter': ('cleanpose_core.pipeline.segmenter_train',
                        'train the ultralytics instance segmenter offline'),
    'train-refiner': ('cleanpose_core.pipeline.class_refiner_train',
                      'train the class refiner of a segmenter (categories from depth shape)'),
    'predict': ('cleanpose_core.pipeline.predict', 'poses of one RGB-D frame'),
    'demo': ('cleanpose_core.pipeline.demo', 'synthesise a sequence and run the full pipeline'),
    'bench': ('cleanpose_core.pipeline.bench', 'latency benchmark of the pipeline'),
    'config': ('cleanpose_core.cli', 'print the resolved configuration'),
}

EPILOG = """examples:
  cleanpose synth --out data/synth --split train --frames 2000 --seed 0
  cleanpose train -c config/model/small.yaml --data data/synth train.epochs=2
  cleanpose eval --data data/synth --split test --masks gt --out runs/eval
  cleanpose config -c config/model/small.yaml model.front_door=false
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `cleanpose config`."""
    parser.add_argument('-c', '--config', help='YAML config file')
    parser.add_argument('overrides', nargs='*', help='key=value overrides')


def run(args: argparse.Namespace) -> int:
    """Print the resolved configuration as YAML."""
    import yaml

    from cleanpose_core.config import config_to_dict, load_config

    cfg = load_config(args.config, args.overrides)
    sys.stdout.write(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return 0


def _plugin_commands() -> dict:
    found = {}
    for entry in metadata.entry_points(group='cleanpose.commands'):
        found[entry.name] = (entry.value, f'(from {entry.value.split(".")[0]})')
    return found


def build_parser(commands: dict, chosen: Optional[str]) -> argparse.ArgumentParser:
    """Build the argument parser; only the chosen command's module is imported."""
    parser = argparse.ArgumentParser(
        prog='cleanpose', description='Category-level 6D object pose (CleanPose).',
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--debug', action='store_true', help='show tracebacks of errors')
    parser.add_argument('-v', '--verbose', action='store_true', help='debug logging')
    sub = parser.add_subparsers(dest='command', metavar='command')
    sub.required = True
    for name, (module_name, help_text) in commands.items():
        if name != chosen:
            sub.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one command; exit 0 ok, 1 failure, 2 usage."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {**COMMANDS, **_plugin_commands()}
    # Import only the named command's module: start-up stays fast and a broken
    # optional dependency of one command does not break the others.
    chosen = next((a for a in argv if not a.startswith('-')), None)
    parser = build_parser(commands, chosen)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(args._module.run(args) or 0)
    except CleanPoseError as err:
        if args.debug:
            raise
        log.error('%s', err)
        return 1
    except KeyboardInterrupt:
        log.error('interrupted')
        return 130


if __name__ == '__main__':
    sys.exit(main())
