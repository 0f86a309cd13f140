; Inno Setup 6 script: LexBrief for Windows (x64), from the PyInstaller bundle.
;
;   python packaging\build.py --target bundle --embed-model starter
;   iscc packaging\windows\lexbrief.iss            (writes dist\LexBrief-<version>-setup-x64.exe)
;
; The bundle (build\dist\lexbrief\) holds lexbrief.exe (console), lexbrief-gui.exe (window),
; _internal\ (Python, Qt, llama.cpp with every x86-64 CPU variant as ggml-cpu-*.dll, chosen at
; the first start) and, when embedded, the model in _internal\models\. Nothing is downloaded.
; Not built or tested on this project's CI (Linux); see packaging\README.md.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "LexBrief"
#define Bundle "..\..\build\dist\lexbrief"

[Setup]
AppId={{6C1E3A52-8B0F-4C55-9D57-2E7B3F1C9A41}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=LexBrief developers
AppComments=Faithful, page-cited summaries of legal documents, offline
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per-user install without admin rights unless the user chooses all users.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir=..\..\dist
OutputBaseFilename=LexBrief-{#AppVersion}-setup-x64
SetupIconFile=..\..\build\lexbrief.ico
UninstallDisplayIcon={app}\lexbrief-gui.exe
Compression=lzma2/max
SolidCompression=yes
LZMANumBlockThreads=4
WizardStyle=modern
ChangesEnvironment=yes
LicenseFile={#Bundle}\THIRD-PARTY.md

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the lexbrief command to PATH"; GroupDescription: "Command line:"

[Files]
Source: "{#Bundle}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\lexbrief-gui.exe"
Name: "{group}\Third-party licences"; Filename: "{app}\THIRD-PARTY.md"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\lexbrief-gui.exe"; Tasks: desktopicon

[Registry]
; PATH for the current user (per-user install) or the machine (all-users install).
Root: HKA; Subkey: "{code:EnvKey}"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; Tasks: addtopath; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
; Checks the install and picks the CPU backend once, before the first real use.
Filename: "{app}\lexbrief-gui.exe"; Description: "Start LexBrief"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; The user's data folder (%LOCALAPPDATA%\LexBrief) holds their summaries: it is kept.
Type: filesandordirs; Name: "{app}\_internal\__pycache__"

[Code]
function EnvKey(Param: String): String;
begin
  if IsAdminInstallMode then
    Result := 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment'
  else
    Result := 'Environment';
end;

function NeedsAddPath(Dir: String): Boolean;
var
  Paths: String;
begin
  if not RegQueryStringValue(HKA, EnvKey(''), 'Path', Paths) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Paths) + ';') = 0;
end;
