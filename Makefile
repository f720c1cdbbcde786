# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create .venv with the pinned requirements (offline after the first install).
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export YOLO_OFFLINE := 1
export YOLO_AUTOINSTALL := false
export YOLO_CONFIG_DIR := $(CURDIR)/.cache/ultralytics
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib

.PHONY: demo test lint bench clean-venv

$(STAMP): requirements.txt setup.py
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements.txt
	# ultralytics pulls in the GUI opencv next to the headless one; keep the headless one.
	$(VENV)/bin/pip uninstall -q -y opencv-python
	$(VENV)/bin/pip install -q --force-reinstall --no-deps opencv-python-headless==5.0.0.93
	$(VENV)/bin/pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/cleanpose demo --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -q test

bench: $(STAMP)
	$(VENV)/bin/cleanpose bench --out runs/bench

clean-venv:
	rm -rf $(VENV)
