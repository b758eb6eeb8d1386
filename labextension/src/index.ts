/** JupyterLab plugin: adds the mlnb panel to the left sidebar. */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { MlnbSidebar } from './sidebar';

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
  '<g class="jp-icon3" fill="#616161">' +
  '<rect x="3" y="13" width="4" height="8" rx="1"/>' +
  '<rect x="10" y="8" width="4" height="13" rx="1"/>' +
  '<rect x="17" y="3" width="4" height="18" rx="1"/>' +
  '</g></svg>';

export const mlnbIcon = new LabIcon({ name: 'mlnb:sidebar', svgstr: ICON_SVG });

/** Add `widget` to the main area, or bring forward the open view with the same id. */
function showInMain(app: JupyterFrontEnd, widget: Widget): void {
  for (const open of app.shell.widgets('main')) {
    if (open.id === widget.id) {
      widget.dispose();
      app.shell.activateById(open.id);
      return;
    }
  }
  app.shell.add(widget, 'main');
  app.shell.activateById(widget.id);
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'mlnb:sidebar',
  description: 'Runs, models, pipelines and monitors of the mlnb registry in the left sidebar.',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null) => {
    const sidebar = new MlnbSidebar({
      openPath: async path => {
        await app.commands.execute('docmanager:open', { path });
      },
      showInMain: widget => showInMain(app, widget)
    });
    sidebar.title.icon = mlnbIcon;
    sidebar.title.caption = 'mlnb';
    app.shell.add(sidebar, 'left', { rank: 900 });
    if (restorer) {
      restorer.add(sidebar, 'mlnb-sidebar');
    }
  }
};

export default plugin;
