"""The SQLModel tables and their create/public/update schemas: no queries here.

Importing this package registers every table on ``SQLModel.metadata``.
"""

from models.tables.activation import ActivationCode
from models.tables.admins import AdminAccount, ApiToken
from models.tables.bat_imports import BatImport
from models.tables.devicepools import DevicePool
from models.tables.devices import Device, KemModule
from models.tables.lines import DirectoryNumber, FeatureButton, LineAppearance
from models.tables.records import MigrationRecord
from models.tables.registrations import Registration
from models.tables.sessions import ScreenSessionRow
from models.tables.settings import DeviceDefaults, SiteSetting
from models.tables.tasks import MigrationTask, TaskDevice, TaskUpload
from models.tables.templates import PhoneButtonTemplate, SecurityProfile
from models.tables.undo import MigrationSnapshot
from models.tables.users import AuthCodeThrottle, CredentialState, EndUser, UserProfile
from models.tables.versions import SiteVersion
from models.tables.waves import Wave, WaveRow

__all__ = ["ActivationCode", "AdminAccount", "ApiToken", "BatImport", "DevicePool", "Device", "KemModule", "DirectoryNumber", "FeatureButton",
           "LineAppearance", "MigrationRecord", "Registration", "ScreenSessionRow", "DeviceDefaults", "SiteSetting", "MigrationTask",
           "TaskDevice", "TaskUpload", "PhoneButtonTemplate", "SecurityProfile", "AuthCodeThrottle", "CredentialState",
           "EndUser", "UserProfile", "SiteVersion", "MigrationSnapshot", "Wave", "WaveRow"]
