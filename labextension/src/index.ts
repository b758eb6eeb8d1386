/** JupyterLab plugin: the mlnb panel in the left sidebar, its main-area views and commands. */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, InputDialog } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator } from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { requestAPI } from './api';
import { __, setTranslator } from './i18n';
import { IPipelineList } from './types';
import { DEFAULT_SETTINGS, IMlnbSettings, MlnbSidebar } from './sidebar';

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
  '<g class="jp-icon3" fill="#616161">' +
  '<rect x="3" y="13" width="4" height="8" rx="1"/>' +
  '<rect x="10" y="8" width="4" height="13" rx="1"/>' +
  '<rect x="17" y="3" width="4" height="18" rx="1"/>' +
  '</g></svg>';

export const mlnbIcon = new LabIcon({ name: 'mlnb:sidebar', svgstr: ICON_SVG });

const PLUGIN_ID = 'mlnb:plugin';

/** The command ids, also reachable from the command palette under "mlnb". */
export const CommandIDs = {
  openPanel: 'mlnb:open-panel',
  refresh: 'mlnb:refresh',
  openRun: 'mlnb:open-run',
  openMonitor: 'mlnb:open-monitor',
  runPipeline: 'mlnb:run-pipeline'
};

/** Bring forward the main-area view with this id, or add the one `create` makes. */
function showInMain(app: JupyterFrontEnd, id: string, create: () => Widget): void {
  for (const open of app.shell.widgets('main')) {
    if (open.id === id) {
      app.shell.activateById(id);
      return;
    }
  }
  const widget = create();
  app.shell.add(widget, 'main');
  app.shell.activateById(widget.id);
}

/** The settings as the sidebar uses them, with defaults for anything unset. */
function readSettings(settings: ISettingRegistry.ISettings | null): IMlnbSettings {
  if (settings === null) {
    return DEFAULT_SETTINGS;
  }
  const composite = settings.composite as Partial<IMlnbSettings>;
  return { ...DEFAULT_SETTINGS, ...composite };
}

function addCommands(
  app: JupyterFrontEnd,
  sidebar: MlnbSidebar,
  palette: ICommandPalette | null
): void {
  const { commands } = app;
  commands.addCommand(CommandIDs.openPanel, {
    label: __('Open the mlnb Panel'),
    caption: __('Runs, models, pipelines and monitors of the mlnb registry'),
    execute: () => app.shell.activateById(sidebar.id)
  });
  commands.addCommand(CommandIDs.refresh, {
    label: __('Refresh the mlnb Panel'),
    execute: () => sidebar.refreshAll()
  });
  commands.addCommand(CommandIDs.openRun, {
    label: args => (args.id ? __('Open Run #%1', String(args.id)) : __('Open mlnb Run…')),
    execute: async args => {
      let id = Number(args.id);
      if (!Number.isInteger(id) || id < 1) {
        const answer = await InputDialog.getNumber({ title: __('Open run'), label: __('Run id') });
        if (!answer.button.accept || answer.value === null) {
          return;
        }
        id = answer.value;
      }
      sidebar.openRun(id);
    }
  });
  commands.addCommand(CommandIDs.openMonitor, {
    label: args =>
      args.name
        ? __('Open Monitor Dashboard %1', String(args.name))
        : __('Open mlnb Monitor Dashboard…'),
    execute: async args => {
      let name = typeof args.name === 'string' ? args.name : '';
      if (!name) {
        const { monitors } = await requestAPI<{ monitors: { name: string }[] }>('monitors');
        const answer = await InputDialog.getItem({
          title: __('Open monitor dashboard'),
          items: monitors.map(m => m.name)
        });
        if (!answer.button.accept || !answer.value) {
          return;
        }
        name = answer.value;
      }
      sidebar.openMonitor(name);
    }
  });
  commands.addCommand(CommandIDs.runPipeline, {
    label: args =>
      args.name ? __('Run Pipeline %1 Now', String(args.name)) : __('Run mlnb Pipeline Now…'),
    execute: async args => {
      let name = typeof args.name === 'string' ? args.name : '';
      if (!name) {
        const { pipelines } = await requestAPI<IPipelineList>('pipelines');
        const answer = await InputDialog.getItem({
          title: __('Run pipeline now'),
          items: pipelines.map(p => p.name)
        });
        if (!answer.button.accept || !answer.value) {
          return;
        }
        name = answer.value;
      }
      await sidebar.runPipeline(name);
    }
  });
  if (palette) {
    const category = 'mlnb';
    for (const command of Object.values(CommandIDs)) {
      palette.addItem({ command, category });
    }
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Runs, models, pipelines and monitors of the mlnb registry: sidebar, run pages, dashboards.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette, ISettingRegistry, ITranslator],
  activate: async (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null
  ) => {
    setTranslator(translator);
    const sidebar = new MlnbSidebar({
      openPath: async path => {
        await app.commands.execute('docmanager:open', { path });
      },
      showInMain: (id, create) => showInMain(app, id, create)
    });
    sidebar.title.icon = mlnbIcon;
    sidebar.title.caption = 'mlnb';
    app.shell.add(sidebar, 'left', { rank: 900 });
    if (restorer) {
      restorer.add(sidebar, 'mlnb-sidebar');
    }
    addCommands(app, sidebar, palette);
    if (settingRegistry) {
      try {
        const settings = await settingRegistry.load(PLUGIN_ID);
        sidebar.configure(readSettings(settings));
        settings.changed.connect(() => sidebar.configure(readSettings(settings)));
      } catch (error) {
        console.warn('mlnb: settings could not be loaded, using the defaults', error);
      }
    }
  }
};

export default plugin;
