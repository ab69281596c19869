<#
.SYNOPSIS
  restic-manager agent installer for Windows (10+ / Server 2016+, PowerShell 5.1+).

.DESCRIPTION
  Downloads the windows-amd64 agent from the restic-manager server (/agent/binary),
  checks that it runs, installs it as "$env:ProgramFiles\restic-manager\restic-manager-agent.exe",
  registers the Windows service ("restic-manager-agent service install"), enrols the
  host (first run only), and starts the service.  Re-running upgrades the binary in
  place and keeps the enrolment.  Existing scheduled tasks that run restic are listed,
  never changed.  Config and state live in "$env:ProgramData\restic-manager"
  (SYSTEM and Administrators only).  restic.exe must be on the system PATH, or
  pass -Restic C:\path\restic.exe (recorded in the service's command line).

.EXAMPLE
  powershell -ExecutionPolicy Bypass -Command "& { $s='https://backup.example.org'; iwr -UseBasicParsing $s/install/install.ps1 -OutFile $env:TEMP\rm-install.ps1; & $env:TEMP\rm-install.ps1 -Server $s -Token TOKEN }"

.EXAMPLE
  $env:RM_SERVER = 'https://backup.example.org'; $env:RM_ENROL_TOKEN = 'TOKEN'; .\install.ps1

.EXAMPLE
  .\install.ps1 -Uninstall          # stop and remove the service and binary; -Purge also removes config and state
#>
[CmdletBinding()]
param(
    [string]$Server = $env:RM_SERVER,
    [string]$Token = $env:RM_ENROL_TOKEN,
    [string]$CaFile = $env:RM_CA_FILE,
    [string]$Restic = $env:RM_RESTIC,
    [string]$InstallDir = (Join-Path $env:ProgramFiles 'restic-manager'),
    [switch]$Uninstall,
    [switch]$Purge
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'   # Invoke-WebRequest is much faster without the progress bar

$ServiceName = 'restic-manager-agent'
$Exe = Join-Path $InstallDir 'restic-manager-agent.exe'
$DataDir = Join-Path $env:ProgramData 'restic-manager'
$Done = New-Object System.Collections.Generic.List[string]

function Fail([string]$msg) {
    Write-Error "install.ps1: $msg" -ErrorAction Continue
    exit 1
}

function Invoke-Agent {
    param([string[]]$AgentArgs)
    & $Exe @AgentArgs
    if ($LASTEXITCODE -ne 0) { throw "restic-manager-agent $($AgentArgs[0]) failed (exit $LASTEXITCODE)" }
}

$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    Fail 'run this from an elevated PowerShell (Run as Administrator)'
}

# ---- uninstall ----
if ($Uninstall) {
    if (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) {
        Stop-Service -Name $ServiceName -Force -ErrorAction SilentlyContinue
        if (Test-Path $Exe) { Invoke-Agent @('service', 'uninstall') } else { & sc.exe delete $ServiceName | Out-Null }
        $Done.Add("stopped and removed the $ServiceName service")
    }
    if (Test-Path $Exe) { Remove-Item -Force $Exe; $Done.Add("removed $Exe") }
    if ($Purge -and (Test-Path $DataDir)) { Remove-Item -Recurse -Force $DataDir; $Done.Add("removed $DataDir (enrolment and state)") }
    if ($Done.Count -eq 0) { $Done.Add('nothing was installed') }
    Write-Output 'restic-manager agent uninstalled:'
    $Done | ForEach-Object { Write-Output "  - $_" }
    if (-not $Purge) { Write-Output "kept $DataDir (the enrolment); remove it with -Uninstall -Purge." }
    Write-Output 'the host still exists on the server: delete it there if it is gone for good.'
    exit 0
}

# ---- install / upgrade ----
if (-not $Server) { Fail 'no server: pass -Server URL or set RM_SERVER' }
if ($Server -notmatch '^https?://') { Fail "server '$Server' must start with http:// or https://" }
$Server = $Server.TrimEnd('/')
if (-not [Environment]::Is64BitOperatingSystem) { Fail 'the agent exists for 64-bit Windows (amd64) only' }
if ($env:PROCESSOR_ARCHITECTURE -eq 'ARM64') { Write-Warning 'ARM64 Windows: running the amd64 agent under emulation' }
if ($CaFile -and -not (Test-Path $CaFile)) { Fail "cannot read CA file '$CaFile'" }
if ($Restic) {
    if (-not (Test-Path $Restic)) { Fail "cannot find restic at '$Restic'" }
    $Restic = (Resolve-Path $Restic).Path   # the service does not run in this directory
}
if (-not $Restic -and -not (Get-Command restic.exe -ErrorAction SilentlyContinue)) {
    Write-Warning 'restic.exe is not on PATH: jobs fail until it is installed there (or re-run with -Restic C:\path\restic.exe)'
}

# Enrolled = the agent's token file exists (the agent writes agent.token first).
$enrolled = Test-Path (Join-Path $DataDir 'agent.token')
if (-not $enrolled -and -not $Token) { Fail 'not enrolled yet: pass -Token TOKEN or set RM_ENROL_TOKEN (create one in the web UI)' }

# PowerShell 5.1 may still default to TLS 1.0; the server's proxy needs 1.2.
[Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12

New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
$upgrade = Test-Path $Exe
$tmp = "$Exe.new"
$url = "$Server/agent/binary?os=windows&arch=amd64"
Write-Output "downloading the windows-amd64 agent from $Server ..."
try {
    Invoke-WebRequest -UseBasicParsing -Uri $url -OutFile $tmp
} catch {
    Fail "cannot download the agent from ${url}: $($_.Exception.Message)"
}
# No 2>&1 on native commands: PowerShell 5.1 turns redirected stderr into
# terminating errors under ErrorActionPreference=Stop.
$out = $null
$rc = 1
try { $out = & $tmp --version; $rc = $LASTEXITCODE } catch { $out = $_.Exception.Message }
if ($rc -ne 0 -or -not $out) { Remove-Item -Force $tmp; Fail "the downloaded agent does not run on this machine: $out" }
$version = @($out)[0]

$svc = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
if ($svc -and $svc.Status -ne 'Stopped') { Stop-Service -Name $ServiceName -Force }
$old = $null
if ($upgrade) { try { $old = @(& $Exe --version)[0] } catch { $old = 'unknown' } }
Move-Item -Force $tmp $Exe
if ($upgrade) { $Done.Add("upgraded $Exe ($old -> $version)") } else { $Done.Add("installed $Exe ($version)") }

# `service install` on an existing service only updates its command line (-Restic).
if (-not $svc -or $Restic) {
    $svcArgs = @('service', 'install')
    if ($Restic) { $svcArgs += @('--restic', $Restic) }
    Invoke-Agent $svcArgs
    if ($svc) { $Done.Add("updated the $ServiceName service (restic: $Restic)") }
    else { $Done.Add("registered the $ServiceName service (automatic start, restart on failure)") }
}

if ($enrolled) {
    Write-Output "already enrolled ($DataDir\agent.token exists): keeping the enrolment"
    if ($Token) { Write-Output '  (the token given was not used; to enrol again run -Uninstall -Purge first)' }
} else {
    # The token goes through the environment, not the command line (which
    # other local users can read).
    $enrollArgs = @('enroll', '--server', $Server)
    if ($CaFile) { $enrollArgs += @('--ca-file', $CaFile) }
    $env:RM_ENROL_TOKEN = $Token
    try { Invoke-Agent $enrollArgs } catch { Fail 'enrolment failed (is the token still valid? tokens expire after one hour)' }
    finally { Remove-Item Env:\RM_ENROL_TOKEN -ErrorAction SilentlyContinue }
    $Done.Add("enrolled this host with $Server (config in $DataDir)")
}

Start-Service -Name $ServiceName
$Done.Add("started the $ServiceName service")

# ---- existing restic jobs: list, never change ----
$tasks = @()
try {
    $tasks = @(Get-ScheduledTask -ErrorAction Stop | Where-Object {
            $_.TaskName -ne $ServiceName -and (@($_.Actions | Where-Object { ($_.PSObject.Properties['Execute'] -and $_.Execute -match 'restic') -or ($_.PSObject.Properties['Arguments'] -and $_.Arguments -match 'restic') }).Count -gt 0)
        })
} catch { }

Write-Output ''
Write-Output 'restic-manager agent installed:'
$Done | ForEach-Object { Write-Output "  - $_" }
if ($tasks.Count -gt 0) {
    Write-Output ''
    Write-Output 'existing scheduled tasks that run restic (left as they are; disable them yourself once'
    Write-Output 'restic-manager schedules the same backups, or both will run):'
    $tasks | ForEach-Object { Write-Output "  - $($_.TaskPath)$($_.TaskName)" }
}
Write-Output ''
Write-Output 'to undo: .\install.ps1 -Uninstall   (add -Purge to also remove the enrolment and state)'
