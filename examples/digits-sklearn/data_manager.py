from flops_utils.ml_repo_building_blocks import load_dataset
from flops_utils.ml_repo_templates import DataManagerTemplate
from sklearn.model_selection import train_test_split

# Every learner splits its own partition the same way, so the test splits of all learners together
# are one held-out set (centralised.py scores the centralised model on exactly that set).
TEST_FRACTION = 0.2
SPLIT_SEED = 42


class DataManager(DataManagerTemplate):
    def __init__(self):
        (self.x_train, self.y_train), (self.x_test, self.y_test) = self._prepare_data()

    def _prepare_data(self):
        dataset = load_dataset()
        dataset.set_format("numpy")
        x = dataset["image"].reshape(len(dataset), -1) / 16.0  # 8x8 pixels in 0..16
        y = dataset["label"]
        x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=TEST_FRACTION, random_state=SPLIT_SEED)
        return (x_train, y_train), (x_test, y_test)

    def get_data(self):
        return (self.x_train, self.y_train), (self.x_test, self.y_test)
