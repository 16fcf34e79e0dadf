; Inno Setup 6 script for the Windows installer (built on CI: .github/workflows/installers.yml;
; not built on the Linux development machines). Input: the PyInstaller bundle in
; dist\knowledge-assistant (packaging\build.py). Output: dist\KnowledgeAssistant-Setup-<v>.exe
;   iscc /DAppVersion=0.1.0 packaging\windows\knowledge-assistant.iss
; Per-user install by default (no admin rights needed); the user's data lives in
; %LOCALAPPDATA%\KnowledgeAssistant and is never touched by an upgrade or an uninstall.
; Signing: set SignTool in the Inno Setup IDE or pass /S"signtool=signtool sign /fd sha256
; /tr http://timestamp.digicert.com /td sha256 /f cert.pfx /p $qPASSWORD$q $f" and uncomment
; SignTool below (see packaging/README.md, "Code signing").

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "Knowledge Assistant"
#define Bundle "..\..\dist\knowledge-assistant"

[Setup]
AppId={{6F1C3C2E-8E0B-4B8F-9B7E-2A8D5C1F4E10}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=Knowledge Assistant
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=KnowledgeAssistant-Setup-{#AppVersion}
Compression=lzma2/max
SolidCompression=yes
LZMANumBlockThreads=4
WizardStyle=modern
SetupIconFile=knowledge-assistant.ico
UninstallDisplayIcon={app}\knowledge-assistant.exe
DisableProgramGroupPage=yes
; SignTool=signtool
; SignedUninstaller=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; An upgrade replaces the whole folder's contents: stale files from an older version go first.
Source: "{#Bundle}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\knowledge-assistant.exe"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\knowledge-assistant.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\knowledge-assistant.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
