"""Which model the Model tab shows: the combo of the models on disk, File › Open Model…, a
chosen folder that fails to load, and the banner when the session's model cannot be used."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from explorer.core.model_discovery import folder_problem

SETTINGS_FOLDER = "model/folder"


class ModelChoice:
    """The part of :class:`~explorer.ui.model.view.ModelView` that picks the model shown."""

    # ------------------------------------------------------------- models
    def populate_models(self) -> None:
        """List the models on disk in the combo (reads only their config files).

        Folders that cannot be loaded follow the usable ones, disabled, with the reason as
        their tooltip, so one broken download never hides the others.
        """
        infos = self.bridge.available(include_unusable=True)
        usable = [info for info in infos if info.usable]
        tip = QtCore.Qt.ItemDataRole.ToolTipRole
        self.modelCombo.blockSignals(True)
        self.modelCombo.clear()
        if not usable:
            self.modelCombo.addItem("(no model found)")
        for info in usable:
            self.modelCombo.addItem(f"{info.name}  ({info.source})", str(info.path))
            self.modelCombo.setItemData(self.modelCombo.count() - 1, str(info.path), tip)
        for info in infos:
            if not info.usable:
                self.modelCombo.addItem(f"{info.name}  ({info.source}, cannot be loaded)")
                self.modelCombo.setItemData(self.modelCombo.count() - 1, info.problem, tip)
                self.modelCombo.model().item(self.modelCombo.count() - 1).setEnabled(False)
        self.modelCombo.blockSignals(False)
        self._sync_combo()

    def _sync_combo(self) -> None:
        if self.encoder is None:
            return
        i = self.modelCombo.findData(str(self.encoder.path))
        if i >= 0:
            self.modelCombo.setCurrentIndex(i)

    def _on_combo(self, index: int) -> None:
        path = self.modelCombo.itemData(index)
        if path:
            self._choose(Path(path))

    def open_model_dialog(self) -> None:
        """File › Open Model…: pick a model folder."""
        settings = self.window_.settings if self.window_ is not None else None
        start = str(settings.value(SETTINGS_FOLDER, "")) if settings is not None else ""
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self.window() or self, "Open Model Folder", start or str(Path.home())
        )
        if folder:
            self.open_model_folder(folder)

    def open_model_folder(self, folder) -> bool:
        """Use the model in ``folder``; False if it is plainly unusable.

        The quick check reads only config.json: the weights are loaded in the worker. The
        folder is remembered in the settings once it has loaded; if it fails, the model in
        use stays and the error is shown.
        """
        problem = folder_problem(folder)
        if problem:
            self._error("Cannot open this model", problem)
            return False
        self.bridge.add_folder(folder)
        self._remember = Path(folder)
        self.populate_models()
        self._choose(Path(folder))
        if self.window_ is not None and self.window_.doc.session.model is not None:
            self.window_.worker.submit(self.window_.doc.session)  # it may be found now
        return True

    def _choose(self, folder: Path) -> None:
        """Show the model in ``folder``, even if the session names another one."""
        if folder != self._chosen or not self._prefer_chosen:
            self._set_edits({})  # edits name heads of the model shown before
        self._prefer_before = self._prefer_chosen
        self._chosen, self._prefer_chosen = folder, True
        self.refresh(force=True)

    def _folder_failed(self, error, enc) -> str:
        """After the chosen folder failed to load: go back to ``enc`` (the model shown), forget
        the folder, and say why once. Returns the message ("" when nothing failed)."""
        if not error:
            return ""
        folder, why = error
        if _same(folder, self._chosen or folder):
            self._chosen = enc.path if enc is not None else None
            self._prefer_chosen = self._prefer_before and enc is not None
        if self._remember is not None and _same(folder, self._remember):
            self._remember = None
        settings = self.window_.settings if self.window_ is not None else None
        if settings is not None and _same(str(settings.value(SETTINGS_FOLDER, "")), folder):
            settings.remove(SETTINGS_FOLDER)  # do not fail again on every start
        self.populate_models()  # without the folder; the combo shows the model in use
        message = f"The model folder {folder} could not be loaded: {why}."
        if enc is not None:
            message += f" The Model tab shows {enc.name} instead."
        self._error("Cannot open this model", message)
        return message + "\n\n"

    def _update_banner(self, encoder) -> None:
        s = self.window_.doc.session if self.window_ is not None else None
        wants_model = s is not None and "model" in (s.embedding, s.preset)
        if self.problem is None and wants_model and s.model is None:
            self.banner.show_hint(
                "<b>No model chosen.</b> The 'model' embedding and preset need a real head: "
                "pick one in the Model tab (Ctrl+3) and press “Copy this head into the "
                "workbench”."
            )
        else:
            self.banner.show_problem(self.problem, encoder)

    def _use_loaded_weights(self) -> None:
        """Banner action: point the session at the weights found under the same name."""
        w, enc = self.window_, self.banner.candidate
        if w is None or enc is None or w.doc.session.model is None:
            return
        from dataclasses import replace

        s = w.doc.session
        w.apply(replace(s, model=replace(s.model, sha256=enc.sha256)), "Use installed weights")


def _same(a, b) -> bool:
    """Whether two folder paths name the same folder."""
    if not a or not b:
        return False
    a, b = Path(a).expanduser(), Path(b).expanduser()
    try:
        return a == b or a.resolve() == b.resolve()
    except OSError:
        return a == b
