"""The base classes an ML repo in the original FLOps layout derives from (docs/ml-repo-contract.md)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class DataManagerTemplate(ABC):
    """Loads this learner's data (usually with `load_dataset()`) and prepares it for the model."""

    @abstractmethod
    def _prepare_data(self, *args: Any, **kwargs: Any) -> Any:
        """Loads and preprocesses the data; called by the repo's own DataManager."""

    @abstractmethod
    def get_data(self, *args: Any, **kwargs: Any) -> Any:
        """Returns the prepared data, typically ((x_train, y_train), (x_test, y_test))."""


class ModelManagerTemplate(ABC):
    """What a learner needs from a model. The constructor must work without data: the learner builds
    the model first and calls `set_model_data()` afterwards."""

    @abstractmethod
    def set_model_data(self) -> None:
        """Loads this learner's data, usually through the repo's DataManager."""

    @abstractmethod
    def get_model(self) -> Any:
        """Returns the underlying model object."""

    @abstractmethod
    def get_model_parameters(self) -> Any:
        """Returns the trainable state as a list of numpy arrays, always in the same order and shapes."""

    @abstractmethod
    def set_model_parameters(self, parameters: Any) -> None:
        """Replaces the trainable state with `parameters`, a list as `get_model_parameters()` returns."""

    @abstractmethod
    def fit_model(self) -> int:
        """Trains on this learner's training data; returns the number of training samples."""

    @abstractmethod
    def evaluate_model(self) -> tuple[Any, Any, int]:
        """Scores the current parameters on this learner's test data: (loss, accuracy, number of samples)."""
