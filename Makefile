# LeadDesk: `make run` for the demo, `make serve` as deployed, `make test` for the suite,
# `make lint` for style and the direction of imports between apps (pyproject's importlinter).
export UV_PYTHON_DOWNLOADS := never
UV ?= uv
PY := $(UV) run --frozen python
SANDBOX_PORT ?= 8765
PORT ?= 8000

.PHONY: install run serve test lint

install:
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	@python3 scripts/bootstrap_env.py

# Migrate, load demo data, start the sandbox partner and a worker in the background and the
# admin in front; Ctrl-C stops all three. The demo's settings add the sandbox app to production's.
run: export DJANGO_SETTINGS_MODULE := config.dev_settings
run: install
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed_demo --sandbox-port $(SANDBOX_PORT) --admin-port $(PORT)
	@$(PY) manage.py run_sandbox --port $(SANDBOX_PORT) --latency-ms 20 & sandbox=$$!; \
	  $(PY) manage.py run_worker & worker=$$!; \
	  trap 'kill $$sandbox $$worker 2>/dev/null' EXIT INT TERM; \
	  $(PY) manage.py runserver 127.0.0.1:$(PORT)

# The app as deployed (scripts/serve): gunicorn with static files through WhiteNoise and the job
# workers beside it, with the production profile .env.production (written from
# .env.production.example with fresh keys on first use, then make stops for you to review it).
# To try it over plain HTTP on loopback, without the TLS proxy in front:
#   ALLOWED_HOSTS=127.0.0.1 SECURE_SSL_REDIRECT=false TRUSTED_PROXY_COUNT=0 make serve
serve: export DJANGO_SETTINGS_MODULE := config.settings
serve: install
	@python3 scripts/bootstrap_env.py --production
	DJANGO_ENV_FILE=.env.production PYTHON="$(PY)" scripts/serve

test: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen lint-imports
	$(UV) run --frozen pytest

lint:
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen lint-imports
