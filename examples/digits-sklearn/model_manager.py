import warnings

import numpy as np
from data_manager import DataManager
from flops_utils.ml_repo_templates import ModelManagerTemplate
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

NUM_CLASSES = 10
NUM_FEATURES = 64
# Each round continues from the global model (warm start) for a few solver iterations.
ITERATIONS_PER_ROUND = 10


class ModelManager(ModelManagerTemplate):
    def __init__(self):
        self.model = LogisticRegression(max_iter=ITERATIONS_PER_ROUND, warm_start=True)
        self._set_init_params()

    def _set_init_params(self):
        # The model must have parameters before it has seen data, for FedAvg's first round.
        self.model.classes_ = np.arange(NUM_CLASSES)
        self.model.coef_ = np.zeros((NUM_CLASSES, NUM_FEATURES))
        self.model.intercept_ = np.zeros((NUM_CLASSES,))

    def set_model_data(self):
        (self.x_train, self.y_train), (self.x_test, self.y_test) = DataManager().get_data()

    def get_model(self):
        return self.model

    def get_model_parameters(self):
        return [self.model.coef_, self.model.intercept_]

    def set_model_parameters(self, parameters):
        self.model.coef_ = np.asarray(parameters[0], dtype=np.float64)
        self.model.intercept_ = np.asarray(parameters[1], dtype=np.float64)

    def fit_model(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a few iterations per round never "converge"
            self.model.fit(self.x_train, self.y_train)
        return len(self.x_train)

    def evaluate_model(self):
        probabilities = self.model.predict_proba(self.x_test)
        loss = log_loss(self.y_test, probabilities, labels=self.model.classes_)
        accuracy = self.model.score(self.x_test, self.y_test)
        return loss, accuracy, len(self.x_test)
