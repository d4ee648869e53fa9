"""Builds the package as pyproject.toml declares, and compiles its translation catalogs.

The gettext catalogs are kept as text (bot/locales/<locale>/LC_MESSAGES/messages.po) and
compiled into the `messages.mo` that bot.i18n reads while the package is built: into the
wheel for `pip install .` (which then carries the .mo only: an installed .po would be newer
than its .mo, pip writing files in name order, and bot.i18n would read the slower .po),
beside the .po in the source tree for `pip install -e .`. The sdist keeps the .po.
"""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py

CATALOGS = "bot/locales/*/LC_MESSAGES/messages.po"


def compile_catalog(source: Path, locale: str) -> None:
    """`pybabel compile` for one catalog: fuzzy and untranslated texts are left out."""
    with source.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    with source.with_suffix(".mo").open("wb") as handle:
        write_mo(handle, catalog)


class BuildWithCatalogs(build_py):
    def run(self) -> None:
        super().run()  # copies the .po into the build (not in an editable build)
        # An editable install imports the package from the source tree, so its .mo go there.
        root = Path(__file__).parent if self.editable_mode else Path(self.build_lib)
        for source in sorted(root.glob(CATALOGS)):
            compile_catalog(source, locale=source.parents[1].name)
            if not self.editable_mode:
                source.unlink()


setup(cmdclass={"build_py": BuildWithCatalogs})
