"""Imports every table module so SQLModel.metadata knows the whole schema."""

from models.devices import Device, KemModule  # noqa: F401
from models.lines import DirectoryNumber, FeatureButton, LineAppearance  # noqa: F401
from models.records import MigrationRecord  # noqa: F401
from models.settings import DeviceDefaults, SiteSetting  # noqa: F401
from models.templates import PhoneButtonTemplate, SecurityProfile  # noqa: F401
from models.users import AuthCodeThrottle, CredentialState, EndUser, UserProfile  # noqa: F401
from models.stamp import SiteVersion  # noqa: F401
from models.activation import ActivationCode  # noqa: F401
from models.admins import AdminAccount, ApiToken  # noqa: F401
from models.tasks import MigrationTask, TaskDevice, TaskUpload  # noqa: F401
from models.sessions import ScreenSessionRow  # noqa: F401
